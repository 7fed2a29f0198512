"""Mask-transformer occupancy head: matching, losses, inference."""
import itertools

import pytest
import torch

import models  # noqa: F401
from mmdet3d.registry import MODELS

GRID = (8, 8, 4)
FREE = 17
NUM_CLASSES = 17


def _cfg(**over):
    cfg = dict(
        type='MaskOccHead', num_classes=NUM_CLASSES, embed_dims=16, num_queries=6,
        num_layers=2, num_heads=2, ffn_dims=32, dropout=0.0, grid_min=(-1.6, -1.6, -1.0),
        grid_shape=GRID, voxel_size=0.4, free_label=FREE, attn_mask_threshold=0.5,
        score_threshold=0.5, occ_threshold=None, thing_classes=(4, 7), panoptic=False,
        match_cost=dict(cls=2.0, mask=5.0, dice=5.0),
        loss_cls=dict(type='mmdet.CrossEntropyLoss', use_sigmoid=False, loss_weight=2.0,
                      reduction='mean', class_weight=[1.0] * NUM_CLASSES + [0.1]),
        loss_mask=dict(type='mmdet.CrossEntropyLoss', use_sigmoid=True, reduction='mean',
                       loss_weight=5.0),
        loss_dice=dict(type='mmdet.DiceLoss', use_sigmoid=True, activate=True,
                       reduction='mean', naive_dice=True, eps=1.0, loss_weight=5.0),
        loss_lovasz=dict(type='LovaszSoftmaxLoss', loss_weight=1.0),
        loss_geo_scal=dict(type='GeoScalLoss', free_label=FREE, loss_weight=1.0),
        loss_sem_scal=dict(type='SemScalLoss', free_label=FREE, loss_weight=1.0))
    cfg.update(over)
    return cfg


def _scene():
    """GT grid with road (11), a car (4) and a pedestrian (7); 84 kept voxels: all 68
    occupied ones and 16 free ones."""
    gt = torch.full(GRID, FREE, dtype=torch.uint8)
    gt[:, :, 0] = 11
    gt[2:4, 2, 1] = 4
    gt[6, 6, 1:3] = 7
    inst = torch.zeros(GRID, dtype=torch.int32)
    inst[2:4, 2, 1] = 1
    inst[6, 6, 1:3] = 2
    occupied = (gt != FREE).nonzero()
    free = (gt == FREE).nonzero()[torch.randperm(int((gt == FREE).sum()),
                                                 generator=torch.Generator().manual_seed(0))[:16]]
    coords = torch.cat([occupied, free])[None]
    return coords, gt[None], inst[None]


def test_matching_equals_brute_force():
    torch.manual_seed(1)
    head = MODELS.build(_cfg())
    cls = torch.randn(5, NUM_CLASSES + 1)
    mask = torch.randn(5, 12)
    labels = torch.tensor([3, 11, 3])
    masks = (torch.rand(3, 12) > 0.5).float()
    cost = head.match_cost_matrix(cls, mask, labels, masks)
    rows, cols = head.hungarian_match(cls, mask, labels, masks)
    best = min(sum(cost[q, g].item() for g, q in enumerate(perm))
               for perm in itertools.permutations(range(5), 3))
    assert sorted(cols.tolist()) == [0, 1, 2]
    assert cost[rows, cols].sum().item() == pytest.approx(best, rel=1e-6)
    # The dice term is the dice loss of each pair.
    prob = mask.sigmoid()
    dice = 1 - (2 * (prob[0] * masks[1]).sum() + 1) / (prob[0].sum() + masks[1].sum() + 1)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(mask[0], masks[1])
    expected = -2.0 * cls.softmax(-1)[0, 11] + 5.0 * bce + 5.0 * dice
    assert cost[0, 1].item() == pytest.approx(expected.item(), rel=1e-5)


def test_targets_semantic_and_panoptic():
    coords, gt, inst = _scene()
    head = MODELS.build(_cfg())
    labels, masks, voxel_labels, _ = head.get_targets(coords[0], gt[0])
    assert labels.tolist() == [4, 7, 11] and masks.shape == (3, 84)
    assert masks.sum().item() == 68 and (voxel_labels == FREE).sum().item() == 16
    labels, masks, _, _ = head.get_targets(coords[0], gt[0], inst[0])
    assert sorted(labels.tolist()) == [4, 7, 11]
    # Two cars with different ids become two targets.
    inst2 = inst.clone()
    inst2[0, 3, 2, 1] = 5
    labels, masks, _, _ = head.get_targets(coords[0], gt[0], inst2[0])
    assert sorted(labels.tolist()) == [4, 4, 7, 11]


def test_losses_finite_and_differentiable():
    torch.manual_seed(0)
    coords, gt, _ = _scene()
    head = MODELS.build(_cfg())
    feats = torch.randn(1, coords.shape[1], 16, requires_grad=True)
    preds = head(coords, feats)
    assert len(preds['cls_logits']) == 3
    assert preds['cls_logits'][0].shape == (1, 6, 18) and preds['mask_logits'][0].shape == (1, 6, 84)
    losses = head.loss(preds, coords, gt)
    names = ['loss_cls', 'loss_mask', 'loss_dice', 'loss_lovasz', 'loss_geo_scal', 'loss_sem_scal']
    assert set(losses) == {p + n for p in ('', 'd0.', 'd1.') for n in names}
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    assert torch.isfinite(feats.grad).all() and feats.grad.abs().sum() > 0
    assert head.query_feat.weight.grad.abs().sum() > 0


def test_loss_without_any_target_is_zero_but_defined():
    coords, _, _ = _scene()
    head = MODELS.build(_cfg())
    preds = head(coords, torch.randn(1, coords.shape[1], 16))
    losses = head.loss(preds, coords, torch.full((1, *GRID), FREE, dtype=torch.uint8))
    assert losses['loss_mask'].item() == 0 and torch.isfinite(losses['loss_cls'])


def _perfect(head, coords, gt, inst=None):
    labels, masks, _, _ = head.get_targets(coords[0], gt[0], None if inst is None else inst[0])
    cls = torch.full((1, 6, NUM_CLASSES + 1), -30.0)
    cls[0, :, NUM_CLASSES] = 30.0
    mask = torch.full((1, 6, coords.shape[1]), -30.0)
    for q, (label, target) in enumerate(zip(labels, masks)):
        cls[0, q] = -30.0
        cls[0, q, label] = 30.0
        mask[0, q] = torch.where(target > 0, 30.0, -30.0)
    return dict(cls_logits=[cls], mask_logits=[mask])


def test_inference_grid_and_perfect_prediction_gives_gt_back():
    coords, gt, inst = _scene()
    head = MODELS.build(_cfg())
    preds = _perfect(head, coords, gt)
    result = head.predict(preds, coords)[0]
    assert result['pred_occ_sem'].dtype == torch.uint8
    assert result['pred_occ_sem'].shape == GRID
    assert torch.equal(result['pred_occ_sem'], gt[0])
    losses = head.loss(preds, coords, gt)
    for name in ('loss_cls', 'loss_mask', 'loss_dice', 'loss_lovasz'):
        assert losses[name].item() < 1e-3, name
    # Not kept -> free, even if the GT there is occupied.
    partial_preds = dict(cls_logits=preds['cls_logits'],
                         mask_logits=[preds['mask_logits'][0][..., 1:]])
    partial = head.predict(partial_preds, coords[:, 1:])[0]['pred_occ_sem']
    c = coords[0, 0]
    assert partial[c[0], c[1], c[2]] == FREE
    # The proposal's occupancy scores can veto voxels.
    head.occ_threshold = 0.5
    vetoed = head.predict(preds, coords, occ_scores=torch.full((1, 84), -5.0))[0]
    assert (vetoed['pred_occ_sem'] == FREE).all()


def test_panoptic_inference_gives_instances():
    coords, gt, inst = _scene()
    inst[0, 3, 2, 1] = 3  # the car is two instances now
    head = MODELS.build(_cfg(panoptic=True))
    result = head.predict(_perfect(head, coords, gt, inst), coords)[0]
    assert torch.equal(result['pred_occ_sem'], gt[0])
    ids = result['pred_occ_inst']
    assert ids.dtype == torch.int32 and ids.shape == GRID
    assert ids[2, 2, 1] != ids[3, 2, 1] and ids[2, 2, 1] > 0 and ids[6, 6, 1] == ids[6, 6, 2] > 0
    assert (ids[gt[0] == 11] == 0).all() and (ids[gt[0] == FREE] == 0).all()


def test_voxels_outside_the_valid_mask_get_no_loss_and_no_gradient():
    torch.manual_seed(0)
    coords, gt, _ = _scene()
    head = MODELS.build(_cfg())
    valid = torch.ones_like(gt, dtype=torch.bool)
    valid[0, :4] = False                                     # x < 4 unknown
    feats = torch.randn(1, coords.shape[1], 16)
    preds = head(coords, feats)
    mask_logits = [m.detach().requires_grad_() for m in preds['mask_logits']]
    preds = dict(cls_logits=preds['cls_logits'], mask_logits=mask_logits)
    sum(head.loss(preds, coords, gt, valid=valid).values()).backward()
    outside = coords[0, :, 0] < 4
    for logits in mask_logits:
        assert logits.grad[0][:, outside].abs().max() == 0
        assert logits.grad[0][:, ~outside].abs().max() > 0
    # Labels outside the mask do not change the losses.
    relabelled = gt.clone()
    relabelled[0, :4] = 4
    a = head.loss(preds, coords, gt, valid=valid)
    b = head.loss(preds, coords, relabelled, valid=valid)
    for name in a:
        assert torch.allclose(a[name], b[name]), name


def test_voxel_probs_keep_a_free_gradient_when_queries_overlap():
    """Many confident masks over one voxel: scores sum above 1, yet the free probability
    still moves with the mask logits (a clamp at 0 would freeze the scal losses)."""
    head = MODELS.build(_cfg())
    cls = torch.zeros(1, 6, NUM_CLASSES + 1)
    mask = torch.full((1, 6, 3), 3.0, requires_grad=True)
    probs = head.voxel_probs(cls, mask)
    assert torch.allclose(probs.sum(-1), torch.ones(1, 3))
    probs[..., FREE].sum().backward()
    assert mask.grad.abs().sum() > 0
