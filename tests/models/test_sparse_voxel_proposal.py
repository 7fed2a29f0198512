"""Sparse voxel proposal: shapes, exact k per level, unique in-grid coordinates, loss."""
import pytest
import torch

import models  # noqa: F401
from mmdet3d.registry import MODELS

GRID = (16, 16, 8)


def _cfg(**over):
    cfg = dict(type='SparseVoxelProposal', in_channels=6, embed_dims=8, grid_shape=GRID,
               num_levels=3, topk_train=(20, 100, 400), topk_test=(10, 60, 300),
               score_hidden_dims=16, prior_eps=1e-4,
               loss_occ=dict(type='mmdet.CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0))
    cfg.update(over)
    return cfg


def _inputs(batch=2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    volume = torch.randn(batch, 6, 4, 4, 2, generator=gen)
    prior = torch.rand(batch, 1, 4, 4, 2, generator=gen)
    return volume, prior


@pytest.mark.parametrize('training', [True, False])
def test_shapes_k_per_level_and_unique_coords(training):
    model = MODELS.build(_cfg()).train(training)
    out = model(*_inputs())
    ks = model.topk_train if training else model.topk_test
    assert out['coords'].shape == (2, ks[-1], 3) and out['coords'].dtype == torch.int64
    assert out['feats'].shape == (2, ks[-1], 8) and out['scores'].shape == (2, ks[-1])
    assert [lv['logits'].shape[1] for lv in out['levels']] == [32, 8 * ks[0], 8 * ks[1]]
    for l, level in enumerate(out['levels']):
        shape = torch.tensor(model.level_shapes[l])
        assert ((level['coords'] >= 0) & (level['coords'] < shape)).all()
    for b in range(2):
        coords = out['coords'][b]
        assert ((coords >= 0) & (coords < torch.tensor(GRID))).all()
        assert torch.unique(coords, dim=0).shape[0] == ks[-1]
        # Kept voxels are the top-k of the last level's scored children.
        last = out['levels'][-1]['logits'][b]
        assert torch.equal(out['scores'][b].sort().values, last.topk(ks[-1]).values.sort().values)


def test_children_lie_inside_kept_parents():
    model = MODELS.build(_cfg()).eval()
    out = model(*_inputs(batch=1))
    parents = {tuple(c) for c in (out['levels'][2]['coords'][0] // 2).tolist()}
    children_parents = {tuple(c) for c in (out['coords'][0] // 2).tolist()}
    assert children_parents <= parents and len(parents) == model.topk_test[1]


def test_bad_configs_are_rejected():
    with pytest.raises(ValueError, match='divisible'):
        MODELS.build(_cfg(grid_shape=(16, 16, 6)))
    with pytest.raises(ValueError, match='8 \\* topk_train'):
        MODELS.build(_cfg(topk_train=(20, 200, 400)))
    with pytest.raises(ValueError, match='one k per level'):
        MODELS.build(_cfg(topk_test=(10, 60)))
    model = MODELS.build(_cfg())
    with pytest.raises(ValueError, match='volume'):
        model(torch.zeros(1, 6, 4, 4, 4), torch.zeros(1, 1, 4, 4, 4))


def test_loss_uses_max_pooled_gt_and_decreases():
    torch.manual_seed(0)
    model = MODELS.build(_cfg())
    volume, prior = _inputs(batch=1)
    gt = torch.zeros(1, *GRID, dtype=torch.bool)
    gt[0, :8, :, :2] = True          # a "ground" slab on half the scene
    gt[0, 12, 3, 5] = True           # one isolated occupied voxel
    optim = torch.optim.Adam(model.parameters(), lr=0.02)
    history = []
    for _ in range(12):
        out = model(volume, prior)
        losses = model.loss(out['levels'], gt)
        assert set(losses) == {'loss_proposal_l0', 'loss_proposal_l1', 'loss_proposal_l2'}
        total = sum(losses.values())
        optim.zero_grad()
        total.backward()
        optim.step()
        history.append(total.item())
    assert all(torch.isfinite(torch.tensor(history)))
    assert history[-1] < 0.5 * history[0]
    # The coarse target is the max-pool: the isolated voxel makes coarse (3, 0, 1) occupied.
    level0 = out['levels'][0]
    flat = (level0['coords'][0] * torch.tensor([8, 2, 1])).sum(-1)
    prob = level0['logits'][0].sigmoid()
    assert prob[flat == 3 * 8 + 0 * 2 + 1].item() > 0.5


def test_loss_leaves_out_invalid_voxels():
    torch.manual_seed(0)
    model = MODELS.build(_cfg())
    volume, prior = _inputs(batch=1)
    out = model(volume, prior)
    gt = torch.zeros(1, *GRID, dtype=torch.bool)
    gt[0, :8, :, :2] = True
    valid = torch.zeros_like(gt)
    valid[0, 8:] = True                     # only the empty half is observed
    masked = model.loss(out['levels'], gt, valid)
    # Occupancy where nothing is observed must not matter.
    assert all(torch.equal(masked[k], v) for k, v in
               model.loss(out['levels'], torch.zeros_like(gt), valid).items())
    assert not torch.equal(masked['loss_proposal_l0'],
                           model.loss(out['levels'], gt)['loss_proposal_l0'])


def test_without_prior_scores_ignore_the_prior():
    torch.manual_seed(0)
    model = MODELS.build(_cfg(use_prior=False)).eval()
    volume, prior = _inputs()
    out = model(volume, None)
    again = model(volume, prior * 100)
    assert torch.equal(out['coords'], again['coords'])
    assert torch.equal(out['scores'], again['scores'])
    assert model.coarse_scorer[0].in_channels == 8  # embed_dims, no prior channel


def test_a_fine_prior_reaches_every_level_up_to_its_own():
    """Given at the last level's resolution, the prior is sum-pooled for the coarse level
    and read per voxel at the finer ones: moving mass between the children of one coarse
    voxel leaves level 0 unchanged and changes the children's scores."""
    torch.manual_seed(0)
    model = MODELS.build(_cfg(topk_test=(32, 256, 2048))).eval()   # keep every voxel
    volume, _ = _inputs(batch=1)
    fine = torch.rand(1, 1, *GRID)
    moved = fine.clone()
    moved[0, 0, 0:2, 0:2, 0:2] = moved[0, 0, 0:2, 0:2, 0:2].flip(0)   # inside level-1 voxel 0
    a, b = model(volume, fine), model(volume, moved)
    assert torch.equal(a['levels'][0]['logits'], b['levels'][0]['logits'])
    assert not torch.equal(a['levels'][2]['logits'], b['levels'][2]['logits'])
    # The coarse log-prior is the sum over the 64 fine voxels each coarse voxel covers.
    coarse = model._level_log_priors(fine, 1)[0]
    expected = torch.log(fine.view(4, 4, 4, 4, 2, 4).sum((1, 3, 5)) + model.prior_eps)
    torch.testing.assert_close(coarse[0, 0], expected)


def test_prior_at_no_level_resolution_is_rejected():
    model = MODELS.build(_cfg())
    volume, _ = _inputs(batch=1)
    with pytest.raises(ValueError, match='level shapes'):
        model(volume, torch.rand(1, 1, 5, 5, 5))


def _forward_camera():
    """ego2img [1, 1, 4, 4] of a pinhole at the ego origin looking along +x (64 x 32 px)."""
    return torch.tensor([[[[32.0, 16.0, 0.0, 0.0],
                           [16.0, 0.0, 16.0, 0.0],
                           [1.0, 0.0, 0.0, 0.0],
                           [0.0, 0.0, 0.0, 1.0]]]])


def test_children_read_the_image_at_their_centre():
    """With a sampler, level >= 1 scores depend on the image features (and pass them a
    gradient); the coarse level does not read the image."""
    torch.manual_seed(0)
    model = MODELS.build(_cfg(sampler=dict(type='MultiviewBilinearSampler', num_cams=1),
                              grid_min=(0.5, -3.2, -1.6), voxel_size=0.4)).eval()
    volume, prior = _inputs(batch=1)
    feats = torch.randn(1, 1, 8, 4, 8, requires_grad=True)
    image = dict(mlvl_feats=[feats], ego2img=_forward_camera(), img_shape=(32, 64))
    out = model(volume, prior, image)
    out['levels'][2]['logits'].sum().backward()
    assert feats.grad.abs().sum() > 0
    other = dict(image, mlvl_feats=[torch.randn(1, 1, 8, 4, 8)])
    again = model(volume, prior, other)
    assert torch.equal(out['levels'][0]['logits'], again['levels'][0]['logits'])
    assert not torch.equal(out['levels'][1]['logits'], again['levels'][1]['logits'])
    with pytest.raises(ValueError, match='needs image'):
        model(volume, prior)


def test_children_scores_depend_on_their_position_in_the_grid():
    """Two children with the same parent feature, child slot and prior but different grid
    positions can score differently (the encoding of their centre)."""
    torch.manual_seed(0)
    model = MODELS.build(_cfg(use_prior=False)).eval()
    volume = torch.randn(1, 6, 1, 1, 1).expand(1, 6, 4, 4, 2).contiguous()
    out = model(volume, None)
    level = out['levels'][1]
    slot0 = (level['coords'][0] % 2 == 0).all(-1)
    logits = level['logits'][0][slot0]
    assert logits.numel() > 1 and logits.std() > 0


def test_targets_keep_exposed_surfaces_near_observed_voxels():
    gt = torch.zeros(1, *GRID, dtype=torch.bool)
    gt[0, 2:7, 2:7, 0:5] = True              # a solid 5 x 5 x 5 block on the grid floor
    observed = torch.zeros_like(gt)
    observed[0, 2, 4, 2] = True              # one voxel of its x = 2 face

    plain = MODELS.build(_cfg())
    assert torch.equal(plain.targets(gt, plain.observed_region(observed)), observed)
    assert torch.equal(plain.targets(gt), gt)

    surface = MODELS.build(_cfg(surface_targets=True))
    shell = surface.targets(gt)
    # Only the 3 x 3 x 4 core (z = 0 touches the grid floor, which counts as free) is
    # interior; every other block voxel has a free face neighbour.
    interior = torch.zeros_like(gt)
    interior[0, 3:6, 3:6, 1:4] = True
    assert torch.equal(shell, gt & ~interior)

    dilated = MODELS.build(_cfg(surface_targets=True, target_dilation=1))
    near = dilated.targets(gt, dilated.observed_region(observed))
    expected = torch.zeros_like(gt)
    # Face voxels within 1 of the observed one; the voxels behind them (x = 3) are inside.
    expected[0, 2, 3:6, 1:4] = True
    assert torch.equal(near, expected)
    with pytest.raises(ValueError, match='target_dilation'):
        MODELS.build(_cfg(target_dilation=-1))
