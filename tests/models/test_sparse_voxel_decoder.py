"""Coarse-to-fine sparse voxel decoder with GSVP (models/decoders/sparse_voxel_decoder.py)."""
import pytest
import torch
import torch.nn.functional as F

from mmdet3d.registry import MODELS

import models  # noqa: F401
from models.layers import MultiviewImages
from tools.shared.synthetic_batch import camera_rig

GRID = (32, 32, 8)            # full grid, 0.4 m: coarse 4 x 4 x 1 after 3 stages
GRID_MIN = (-6.4, -6.4, -1.0)
TOPK = (64, 256, 1024)
IMG_W, IMG_H = 64, 32
FREE = 17


def _decoder(**over):
    cfg = dict(type='SparseVoxelDecoder', embed_dims=16, grid_shape=GRID, grid_min=GRID_MIN,
               topk_train=TOPK, topk_test=TOPK, num_frames=2, num_groups=4, num_points=4,
               num_levels=2, num_heads=2, ffn_dims=32, dropout=0.0, attn_chunk_size=100,
               prior_weight=1.0)
    cfg.update(over)
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    return model.eval()


def _images(seed=0, num_frames=2, depth=True, past_seed=None):
    """Random 2-level features of a 6-camera rig (1 sample), frames sharing the cameras."""
    cam2img, cam2ego, _ = camera_rig(6, IMG_W, IMG_H)
    ego2img = torch.from_numpy(cam2img @ torch.linalg.inv(torch.from_numpy(cam2ego)).numpy())
    ego2img = ego2img.float().repeat(num_frames, 1, 1)[None]
    gen = torch.Generator().manual_seed(seed)
    feats = [torch.randn(1, 6 * num_frames, 16, IMG_H // s, IMG_W // s, generator=gen)
             for s in (8, 16)]
    if past_seed is not None:  # other past-frame features, the same current frame
        gen = torch.Generator().manual_seed(past_seed)
        for level in feats:
            level[:, 6:] = torch.randn(level[:, 6:].shape, generator=gen)
    probs = None
    if depth:
        probs = torch.rand(6, 8, IMG_H // 16, IMG_W // 16, generator=gen).softmax(1)
    return MultiviewImages(feats, ego2img, (IMG_H, IMG_W), 6, 4, depth=probs,
                           depth_bins=(1.0, 9.0, 1.0) if depth else None)


def _inputs(seed=0, **image_kwargs):
    gen = torch.Generator().manual_seed(100 + seed)
    volume = torch.randn(1, 16, 4, 4, 1, generator=gen)
    prior = torch.rand(1, 1, *GRID, generator=gen)
    return volume, _images(seed, **image_kwargs), prior


def _kept_set(coords):
    return {tuple(c) for c in coords[0].tolist()}


def test_each_stage_keeps_exactly_k_unique_voxels_of_kept_parents():
    decoder = _decoder()
    with torch.no_grad():
        out = decoder(*_inputs())
    previous = {(i, j, 0) for i in range(4) for j in range(4)}
    for s, (stage, k) in enumerate(zip(out['stages'], TOPK)):
        coords = stage['coords']
        shape = decoder.shapes[s + 1]
        assert coords.shape == (1, k, 3) and coords.dtype == torch.int64
        assert stage['logits'].shape == (1, k, FREE + 1)
        assert stage['scale'] == 2 ** (2 - s)
        kept = _kept_set(coords)
        assert len(kept) == k                                     # unique
        assert all(0 <= c[a] < shape[a] for c in kept for a in range(3))
        assert {(x // 2, y // 2, z // 2) for x, y, z in kept} <= previous
        previous = kept
    assert torch.equal(out['coords'], out['stages'][-1]['coords'])
    assert out['feats'].shape == (1, TOPK[-1], 16)


def test_pruning_depends_on_the_images_through_the_stage_refinement():
    """The same volume and prior with other image features: the refined stages keep other
    voxels. Without refinement the images never reach the decoder (negative control)."""
    for refine, differs in ((True, True), (False, False)):
        decoder = _decoder(refine=refine, use_prior=False)
        with torch.no_grad():
            volume, images, prior = _inputs(0)
            first = decoder(volume, images, prior)
            second = decoder(volume, _images(seed=1), prior)
        changed = [_kept_set(a['coords']) != _kept_set(b['coords'])
                   for a, b in zip(first['stages'], second['stages'])]
        assert changed[-1] == differs, (refine, changed)


def test_adaptive_mixing_mixes_the_past_frame_into_the_voxels():
    decoder = _decoder(use_prior=False)
    with torch.no_grad():
        volume, images, prior = _inputs(0)
        first = decoder(volume, images, prior)
        second = decoder(volume, _images(seed=0, past_seed=5), prior)
    assert not torch.allclose(first['stages'][0]['logits'], second['stages'][0]['logits'])


def test_zero_start_ignores_the_volume():
    decoder = _decoder(init_from_volume=False)
    with torch.no_grad():
        volume, images, prior = _inputs(0)
        first = decoder(volume, images, prior)
        second = decoder(None, images, prior)
    assert torch.equal(first['coords'], second['coords'])
    with pytest.raises(ValueError, match='volume must be'):
        _decoder()(None, images, prior)


def test_the_geometric_prior_steers_the_kept_set():
    """All prior mass in x < 16 (half the grid): with the prior every kept voxel lies there;
    ranking by occupancy alone keeps voxels on both sides."""
    volume, images, _ = _inputs(0)
    prior = torch.zeros(1, 1, *GRID)
    prior[:, :, :16] = 1.0
    with torch.no_grad():
        guided = _decoder(prior_weight=100.0)(volume, images, prior)['coords']
        plain = _decoder(use_prior=False)(volume, images, prior)['coords']
    assert (guided[0, :, 0] < 16).all()
    assert (plain[0, :, 0] >= 16).any()
    with pytest.raises(ValueError, match='use_prior needs a prior'):
        _decoder()(volume, images, None)


@pytest.mark.parametrize('with_unknown', [False, True])
def test_stage_losses_equal_the_losses_of_the_upsampled_prediction(with_unknown):
    """SparseOcc compares a coarse voxel's prediction with every full-grid label it covers;
    the label counts give the same losses without building the upsampled grid. Unknown
    voxels (255, a BEV rotation's corners) are left out of the cross-entropy and affinity
    losses and are background of every class in the Lovasz loss, as in SparseOcc."""
    decoder = _decoder()
    gen = torch.Generator().manual_seed(3)
    gt = torch.randint(0, FREE + 1, (1, *GRID), generator=gen).to(torch.uint8)
    gt[:, :, :, 4:] = FREE
    if with_unknown:
        gt[:, :12, :12] = 255
    with torch.no_grad():
        out = decoder(*_inputs())
        losses = decoder.loss(out['stages'], gt)
        for s, stage in enumerate(out['stages']):
            f = stage['scale']
            coords = stage['coords'][0]
            # Every covered full-grid voxel, with its coarse voxel's logits.
            offsets = torch.stack(torch.meshgrid(*[torch.arange(f)] * 3, indexing='ij'),
                                  -1).reshape(-1, 3)
            fine = (coords[:, None] * f + offsets).reshape(-1, 3)
            labels = gt[0][fine[:, 0], fine[:, 1], fine[:, 2]].long()
            logits = stage['logits'][0].repeat_interleave(f ** 3, 0)
            weight = decoder.loss_ce.class_weight
            expected = F.cross_entropy(logits, labels, weight=weight, ignore_index=255)
            assert losses[f'loss_ce_s{s}'].item() == pytest.approx(expected.item(), rel=1e-5)
            probs = logits.softmax(-1)
            known = labels != 255
            assert losses[f'loss_lovasz_s{s}'].item() == pytest.approx(
                decoder.loss_lovasz(probs, labels).item(), rel=1e-4, abs=1e-6), s
            for name, fn in (('geo_scal', decoder.loss_geo_scal),
                             ('sem_scal', decoder.loss_sem_scal)):
                assert losses[f'loss_{name}_s{s}'].item() == pytest.approx(
                    fn(probs[known], labels[known]).item(), rel=1e-4, abs=1e-6), (name, s)


def test_topk_and_grid_are_checked():
    with pytest.raises(ValueError, match=r'topk_train\[1\] = 600 must be in \(0, 512\]'):
        _decoder(topk_train=(64, 600, 1024))
    with pytest.raises(ValueError, match='one k per stage'):
        _decoder(topk_test=(64, 256))
    with pytest.raises(ValueError, match='divisible by 2 \\*\\* num_stages'):
        _decoder(grid_shape=(30, 32, 8))
