"""Numerical parity with SparseOcc's own code (docs/sparseocc_parity.md).

``tests/fixtures/sparseocc_small.npz`` was written by SparseOcc's modules (its public
repository, run outside this one with random weights at a small size): its state dict with
SparseOcc's key names, the inputs (12 views = 2 frames x 6 cameras, ``ego2img``, a ground
truth with a 255 corner) and its outputs. The test converts the state dict with
``tools/convert_sparseocc.py``, runs this codebase's model configured as SparseOcc and
compares every stage's kept voxels and logits, the head's class and mask logits after every
layer, the final semantic and panoptic grids and every loss term.
"""
import ast
import os

import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope

from mmdet3d.registry import MODELS
from mmdet3d.structures import Det3DDataSample

import models  # noqa: F401  (registers the modules)
from models.layers import MultiviewImages
from tools.convert_sparseocc import ConversionError, convert_state_dict, source_state_dict

FIXTURE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       'fixtures', 'sparseocc_small.npz')
TOLERANCE = 1e-4  # max abs difference, float32 on the CPU (the bar)
CLASS_NAMES = ['others', 'barrier', 'bicycle', 'bus', 'car', 'construction_vehicle',
               'motorcycle', 'pedestrian', 'traffic_cone', 'trailer', 'truck',
               'driveable_surface', 'other_flat', 'sidewalk', 'terrain', 'manmade',
               'vegetation', 'free']
THING_CLASSES = ['car', 'truck', 'construction_vehicle', 'bus', 'trailer', 'motorcycle',
                 'bicycle', 'pedestrian']
CLASS_FREQUENCIES = [
    944004, 1897170, 152386, 2391677, 16957802, 724139, 189027, 2074468, 413451, 2384460,
    5916653, 175883646, 4275424, 51393615, 61411620, 105975596, 116424404, 1892500630]


def sparseocc_model_config(size):
    """This codebase's modules configured as SparseOcc at the fixture's sizes (the module
    defaults are SparseOcc's conventions; sizes are what the fixture changes)."""
    expansion = 4 if size['depth'] >= 50 else 1            # bottleneck vs basic blocks
    widths = [size['base_channels'] * expansion * 2 ** i for i in range(4)]
    dims, frames = size['embed_dims'], size['num_frames']
    return dict(
        type='GDOcc',
        img_encoder=dict(
            type='ImageEncoder',
            backbone=dict(type='mmdet.ResNet', depth=size['depth'],
                          base_channels=size['base_channels'], out_indices=(0, 1, 2, 3),
                          frozen_stages=1, norm_eval=True, style='pytorch', init_cfg=None),
            neck=dict(type='mmdet.FPN', in_channels=widths, out_channels=dims, num_outs=4)),
        decoder=dict(type='SparseVoxelDecoder', embed_dims=dims, num_frames=frames,
                     ffn_dims=2 * dims, topk_train=size['topk'], topk_test=size['topk'],
                     init_from_volume=False, use_prior=False, use_depth_weight=False,
                     loss_ce=dict(type='CountCrossEntropyLoss',
                                  class_frequencies=CLASS_FREQUENCIES)),
        occ_head=dict(type='MaskOccHead', embed_dims=dims, num_frames=frames,
                      num_queries=size['num_queries'], class_names=CLASS_NAMES,
                      thing_classes=THING_CLASSES))


def _order_of(coords, reference):
    """int64 [K]: the permutation that puts voxels ``coords`` [K, 3] in the order of
    ``reference`` [K, 3] (the same set)."""
    def key(c):
        c = torch.as_tensor(c).long()
        return (c[:, 0] * 1000 + c[:, 1]) * 1000 + c[:, 2]
    ours, theirs = key(coords), key(reference)
    order = torch.argsort(ours)
    return order[torch.searchsorted(ours[order], theirs)]


@pytest.fixture(scope='module')
def parity():
    """The fixture, and the converted model's outputs on its inputs: the decoder's stages,
    and the head run on the last stage's voxels in SparseOcc's order (see
    ``test_every_stage_keeps_sparseoccs_voxels_with_its_logits``)."""
    data = dict(np.load(FIXTURE))
    size = ast.literal_eval(str(data['config']))
    init_default_scope('mmdet3d')
    model = MODELS.build(sparseocc_model_config(size)).eval()
    source = {k[len('state/'):]: torch.from_numpy(v) for k, v in data.items()
              if k.startswith('state/')}
    model.load_state_dict(convert_state_dict(source_state_dict(dict(state_dict=source)),
                                             model), strict=True)
    imgs = torch.from_numpy(data['imgs']).float()
    ego2img = torch.from_numpy(data['ego2img'])[None]
    gt_sem = torch.from_numpy(data['gt_sem'])[None]
    with torch.no_grad():
        images = MultiviewImages(model.img_encoder(imgs), ego2img, tuple(imgs.shape[-2:]),
                                 model.num_cams, model.decoder.num_groups)
        decoded = model.decoder(None, images)
        order = _order_of(decoded['coords'][0], data['stage2/coords'])
        coords, feats = decoded['coords'][:, order], decoded['feats'][:, order]
        preds = model.occ_head(coords, feats, images)
        losses = model.decoder.loss(decoded['stages'], gt_sem)
        losses.update(model.occ_head.loss(preds, coords, gt_sem))
        model.occ_head.panoptic = True
        panoptic = model.occ_head.predict(preds, coords)[0]
        model.occ_head.panoptic = False
        semantic = model.occ_head.predict(preds, coords)[0]
    return data, dict(decoder=decoded, preds=preds, coords=coords), losses, semantic, panoptic


def test_the_detector_runs_as_sparseocc_without_a_view_transform(parity):
    """GDOcc without LSS, voxel queries and fusion, end to end (predict and loss)."""
    data = parity[0]
    init_default_scope('mmdet3d')
    model = MODELS.build(sparseocc_model_config(ast.literal_eval(str(data['config'])))).eval()
    imgs = torch.from_numpy(data['imgs']).float()
    num_views = imgs.shape[1]
    sample = Det3DDataSample(metainfo=dict(
        ego2img=data['ego2img'], img_shape=tuple(imgs.shape[-2:]),
        **{k: np.tile(np.eye(4, dtype=np.float32), (num_views, 1, 1))
           for k in ('cam2img', 'cam2ego', 'img_aug')}))
    sample.gt_occ_sem = torch.from_numpy(data['gt_sem'])
    with torch.no_grad():
        losses = model.loss(dict(imgs=imgs), [sample])
        result = model.predict(dict(imgs=imgs), [sample])[0]
    assert 'loss_depth' not in losses and len(losses) == 21
    assert all(torch.isfinite(v) for v in losses.values())
    assert result.pred_occ_sem.shape == (200, 200, 16)


def _max_diff(a, b):
    return float((torch.as_tensor(a).double() - torch.as_tensor(b).double()).abs().max())


def test_every_stage_keeps_sparseoccs_voxels_with_its_logits(parity):
    """The same voxels, sorted by the same scores. Scores equal within float32 rounding
    (SparseOcc's ranking score 1 - p(free) has ties near 1) may swap ranks: the head, which
    draws mask voxels by rank, is compared on SparseOcc's order."""
    data, out, _, _, _ = parity
    for s, stage in enumerate(out['decoder']['stages']):
        theirs = torch.from_numpy(data[f'stage{s}/coords'])
        order = _order_of(stage['coords'][0], theirs)             # raises if sets differ
        assert torch.equal(stage['coords'][0][order], theirs.long()), s
        logits = stage['logits'][0][order]
        assert _max_diff(logits, data[f'stage{s}/logits']) <= TOLERANCE, s
        score = 1 - torch.from_numpy(data[f'stage{s}/logits']).softmax(-1)[:, -1]
        moved = order != torch.arange(len(order))
        swapped = (score[moved] - score[order[moved]]).abs()
        assert not moved.any() or swapped.max() <= 2e-7, (s, swapped)


def test_the_head_predicts_sparseoccs_masks_and_classes_after_every_layer(parity):
    data, out, _, _, _ = parity
    preds = out['preds']
    for i, (cls, mask) in enumerate(zip(preds['cls_logits'], preds['mask_logits'])):
        assert _max_diff(cls[0], data[f'head{i}/cls_logits']) <= TOLERANCE, i
        assert _max_diff(mask[0], data[f'head{i}/mask_logits']) <= TOLERANCE, i


def test_final_semantic_and_panoptic_grids_are_sparseoccs(parity):
    data, out, _, semantic, panoptic = parity
    coords = tuple(out['coords'][0].T)
    for grid, name, empty in ((semantic['pred_occ_sem'], 'sem', 17),
                              (panoptic['pred_occ_sem'], 'pano_sem', 17),
                              (panoptic['pred_occ_inst'], 'pano_inst', 0)):
        expected = torch.full(grid.shape, empty, dtype=torch.int64)
        expected[coords] = torch.from_numpy(data[f'final/{name}']).long()
        assert torch.equal(grid.long(), expected), name


def test_the_merges_of_structured_predictions_are_sparseoccs(parity):
    """Random weights give masks over most voxels (no panoptic segment survives): the
    fixture also holds SparseOcc's merges of 20 overlapping index-range masks."""
    data = parity[0]
    head = MODELS.build(dict(sparseocc_model_config(ast.literal_eval(str(data['config'])))[
        'occ_head'], panoptic=True))
    cls_prob = torch.from_numpy(data['merge/cls_prob'])
    mask_prob = torch.from_numpy(data['merge/mask_prob'])
    logit = lambda p: torch.log(p / (1 - p))  # noqa: E731
    coords = torch.stack([torch.arange(2000) % 200, torch.arange(2000) // 200,
                          torch.zeros(2000, dtype=torch.long)], -1)[None]
    preds = dict(cls_logits=[logit(cls_prob)[None]], mask_logits=[logit(mask_prob)[None]])
    panoptic = head.predict(preds, coords)[0]
    head.panoptic = False
    semantic = head.predict(preds, coords)[0]
    index = tuple(coords[0].T)
    assert torch.equal(semantic['pred_occ_sem'][index].long(),
                       torch.from_numpy(data['merge/sem']).long())
    assert torch.equal(panoptic['pred_occ_sem'][index].long(),
                       torch.from_numpy(data['merge/pano_sem']).long())
    assert torch.equal(panoptic['pred_occ_inst'][index].long(),
                       torch.from_numpy(data['merge/pano_inst']).long())


def test_every_loss_term_is_sparseoccs(parity):
    data, _, losses, _, _ = parity
    names = {}
    for s in range(3):
        names.update({f'loss_sem_ce_{s}': f'loss_ce_s{s}',
                      f'loss_sem_lovasz_{s}': f'loss_lovasz_s{s}',
                      f'loss_geo_scal_{s}': f'loss_geo_scal_s{s}',
                      f'loss_sem_scal_{s}': f'loss_sem_scal_s{s}'})
        prefix = '' if s == 2 else f'd{s}.'
        names.update({f'loss_mask_{s}': prefix + 'loss_mask',
                      f'loss_dice_mask_{s}': prefix + 'loss_dice',
                      f'loss_class_{s}': prefix + 'loss_cls'})
    theirs = {k[len('loss/'):]: float(v) for k, v in data.items() if k.startswith('loss/')}
    assert sorted(theirs) == sorted(names)
    for name, ours in names.items():
        assert abs(float(losses[ours]) - theirs[name]) <= TOLERANCE, (name, losses[ours])


def test_the_converter_is_strict_both_ways(parity):
    data = parity[0]
    size = ast.literal_eval(str(data['config']))
    init_default_scope('mmdet3d')
    model = MODELS.build(sparseocc_model_config(size))
    source = {k[len('state/'):]: torch.from_numpy(v) for k, v in data.items()
              if k.startswith('state/')}
    extra = dict(source, **{'pts_bbox_head.transformer.extra.weight': torch.zeros(1)})
    with pytest.raises(ConversionError, match='1 SparseOcc keys without a place'):
        convert_state_dict(extra, model)
    missing = {k: v for k, v in source.items() if 'seg_pred_heads.2' not in k}
    with pytest.raises(ConversionError, match='2 model keys that SparseOcc does not fill'):
        convert_state_dict(missing, model)
    key = 'pts_bbox_head.transformer.decoder.query_feat.weight'
    with pytest.raises(ConversionError, match='1 keys of another shape'):
        convert_state_dict(dict(source, **{key: source[key][:-1]}), model)
    with pytest.raises(ConversionError, match='is not a SparseOcc checkpoint'):
        source_state_dict(dict(state_dict={'decoder.layers.0.x': torch.zeros(1)}), 'x.pth')


def test_the_converter_folds_the_corner_and_child_order_into_the_weights(parity):
    """A model with voxel centres and x-major children computes SparseOcc's outputs from
    the converted weights too (the position-encoding bias, the head's offset bias and the
    lift's blocks absorb the differences)."""
    data, reference = parity[0], parity[1]
    cfg = sparseocc_model_config(ast.literal_eval(str(data['config'])))
    cfg['decoder'].update(voxel_anchor='centre', child_order='xyz')
    cfg['occ_head'].update(voxel_anchor='centre')
    init_default_scope('mmdet3d')
    model = MODELS.build(cfg).eval()
    source = {k[len('state/'):]: torch.from_numpy(v) for k, v in data.items()
              if k.startswith('state/')}
    model.load_state_dict(convert_state_dict(source, model), strict=True)
    imgs = torch.from_numpy(data['imgs']).float()
    with torch.no_grad():
        images = MultiviewImages(model.img_encoder(imgs),
                                 torch.from_numpy(data['ego2img'])[None],
                                 tuple(imgs.shape[-2:]), model.num_cams, 4)
        decoded = model.decoder(None, images)
        order = _order_of(decoded['coords'][0], reference['coords'][0])
        preds = model.occ_head(decoded['coords'][:, order], decoded['feats'][:, order], images)
    for s, stage in enumerate(decoded['stages']):
        theirs = torch.from_numpy(data[f'stage{s}/logits'])
        order_s = _order_of(stage['coords'][0], data[f'stage{s}/coords'])
        assert _max_diff(stage['logits'][0][order_s], theirs) <= TOLERANCE, s
    for i, mask in enumerate(preds['mask_logits']):
        assert _max_diff(mask[0], data[f'head{i}/mask_logits']) <= TOLERANCE, i
