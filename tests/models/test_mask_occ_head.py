"""Mask-transformer occupancy head: matching, losses, inference."""
import itertools

import numpy as np
import pytest
import torch

from mmdet3d.registry import MODELS

import models  # noqa: F401
from models.heads.mask_occ_head import focal_cost
from models.layers import MultiviewImages
from tools.shared.synthetic_batch import camera_rig

GRID = (8, 8, 4)
FREE = 17
NUM_CLASSES = 17
CLASS_NAMES = ['others', 'barrier', 'bicycle', 'bus', 'car', 'construction_vehicle',
               'motorcycle', 'pedestrian', 'traffic_cone', 'trailer', 'truck',
               'driveable_surface', 'other_flat', 'sidewalk', 'terrain', 'manmade',
               'vegetation', 'free']


def _cfg(**over):
    cfg = dict(
        type='MaskOccHead', num_classes=NUM_CLASSES, embed_dims=16, num_queries=6,
        num_layers=2, num_frames=2, num_groups=4, num_points=2, num_levels=1, num_heads=2,
        mixing_out_points=8, ffn_dims=32, dropout=0.0, grid_min=(-1.6, -1.6, -1.0),
        grid_shape=GRID, voxel_size=0.4, score_threshold=0.5, class_names=CLASS_NAMES,
        thing_classes=('car', 'pedestrian'))
    cfg.update(over)
    return cfg


def _images(seed=0):
    cam2img, cam2ego, _ = camera_rig(6, 32, 16)
    ego2img = torch.from_numpy(cam2img @ np.linalg.inv(cam2ego)).float().repeat(2, 1, 1)[None]
    feats = torch.randn(1, 12, 16, 4, 8, generator=torch.Generator().manual_seed(seed))
    return MultiviewImages([feats], ego2img, (16, 32), num_cams=6, num_groups=4)


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
    cls = torch.randn(5, NUM_CLASSES)
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
    p = cls[0, 11].sigmoid()
    focal = -0.25 * (1 - p) ** 2 * p.log() + 0.75 * p ** 2 * (1 - p).log()
    expected = 4.0 * focal + 5.0 * bce + 5.0 * dice
    assert cost[0, 1].item() == pytest.approx(expected.item(), rel=1e-5)


def test_focal_cost_by_hand():
    logits = torch.tensor([[0.0, 2.0]])
    cost = focal_cost(logits, torch.tensor([1, 0]))
    p = torch.sigmoid(torch.tensor(2.0))
    pos = -0.25 * (1 - p) ** 2 * torch.log(p)
    neg = -0.75 * p ** 2 * torch.log(1 - p)
    assert cost[0, 0].item() == pytest.approx((pos - neg).item(), rel=1e-5)
    # p = 0.5: pos = 0.25 / 4 log 2, neg = 0.75 / 4 log 2: a cost of -log(2) / 8.
    assert cost[0, 1].item() == pytest.approx(-0.125 * np.log(2.0), rel=1e-5)


def test_targets_semantic_and_panoptic():
    coords, gt, inst = _scene()
    head = MODELS.build(_cfg())
    assert head.thing_classes == (4, 7)
    labels, masks, valid = head.get_targets(coords[0], gt[0])
    assert labels.tolist() == [4, 7, 11] and masks.shape == (3, 84)
    assert masks.sum().item() == 68 and valid.all()
    labels, masks, _ = head.get_targets(coords[0], gt[0], inst[0])
    assert sorted(labels.tolist()) == [4, 7, 11]
    # Two cars with different ids become two targets.
    inst2 = inst.clone()
    inst2[0, 3, 2, 1] = 5
    labels, masks, _ = head.get_targets(coords[0], gt[0], inst2[0])
    assert sorted(labels.tolist()) == [4, 4, 7, 11]
    with pytest.raises(ValueError, match=r"thing_classes \['lorry'\] not in class_names"):
        MODELS.build(_cfg(thing_classes=('lorry',)))


def test_mask_voxels_are_drawn_from_each_query_mask():
    head = MODELS.build(_cfg())
    in_mask = torch.zeros(1, 3, 10, dtype=torch.bool)
    in_mask[0, 0, [2, 5, 7]] = True
    in_mask[0, 1, 9] = True                                  # query 2: empty mask
    head.eval()
    drawn = head.draw_mask_voxels(in_mask, 6)
    assert drawn.shape == (1, 3, 6)
    assert drawn[0, 0].tolist() == [2, 2, 5, 5, 7, 7]        # evenly spaced ranks
    assert drawn[0, 1].tolist() == [9] * 6
    assert drawn[0, 2].tolist() == [0, 2, 4, 5, 7, 9]        # from all voxels
    head.train()
    torch.manual_seed(0)
    drawn = head.draw_mask_voxels(in_mask, 50)
    assert set(drawn[0, 0].tolist()) == {2, 5, 7}


def test_losses_finite_and_differentiable():
    torch.manual_seed(0)
    coords, gt, _ = _scene()
    head = MODELS.build(_cfg())
    feats = torch.randn(1, coords.shape[1], 16, requires_grad=True)
    preds = head(coords, feats, _images())
    assert len(preds['cls_logits']) == 3
    assert preds['cls_logits'][0].shape == (1, 6, 17)
    assert preds['mask_logits'][0].shape == (1, 6, 84)
    losses = head.loss(preds, coords, gt)
    names = ['loss_cls', 'loss_mask', 'loss_dice']
    assert set(losses) == {p + n for p in ('', 'd0.', 'd1.') for n in names}
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    assert torch.isfinite(feats.grad).all() and feats.grad.abs().sum() > 0
    assert head.query_feat.weight.grad.abs().sum() > 0


def test_loss_without_any_target_is_zero_but_defined():
    coords, _, _ = _scene()
    head = MODELS.build(_cfg())
    preds = head(coords, torch.randn(1, coords.shape[1], 16), _images())
    losses = head.loss(preds, coords, torch.full((1, *GRID), FREE, dtype=torch.uint8))
    assert losses['loss_mask'].item() == 0 and torch.isfinite(losses['loss_cls'])


def _perfect(head, coords, gt, inst=None):
    labels, masks, _ = head.get_targets(coords[0], gt[0], None if inst is None else inst[0])
    cls = torch.full((1, 6, NUM_CLASSES), -30.0)
    mask = torch.full((1, 6, coords.shape[1]), -30.0)
    for q, (label, target) in enumerate(zip(labels, masks)):
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
    for name in ('loss_cls', 'loss_mask', 'loss_dice'):
        assert losses[name].item() < 1e-3, name
    # Not kept -> free, even if the GT there is occupied.
    partial_preds = dict(cls_logits=preds['cls_logits'],
                         mask_logits=[preds['mask_logits'][0][..., 1:]])
    partial = head.predict(partial_preds, coords[:, 1:])[0]['pred_occ_sem']
    c = coords[0, 0]
    assert partial[c[0], c[1], c[2]] == FREE


def test_inference_merge_by_hand():
    """SparseOcc's merge: queries below score_threshold drop out; a voxel takes the class
    of the largest sum_q p_q(c) m_q and is free below free_threshold."""
    head = MODELS.build(_cfg(num_queries=3, score_threshold=0.3, free_threshold=0.01))
    coords = torch.tensor([[[0, 0, 0], [1, 0, 0], [2, 0, 0]]])
    logit = lambda p: float(np.log(p / (1 - p)))  # noqa: E731
    cls = torch.full((1, 3, NUM_CLASSES), -30.0)
    cls[0, 0, 4] = logit(0.9)                  # car, confident
    cls[0, 1, 11] = logit(0.6)                 # road
    cls[0, 2, 1] = logit(0.2)                  # barrier, below score_threshold: dropped
    mask = torch.tensor([[[logit(0.8), logit(0.3), logit(0.005)],
                          [logit(0.5), logit(0.9), logit(0.01)],
                          [logit(0.99), logit(0.99), logit(0.99)]]])
    sem = head.predict(dict(cls_logits=[cls], mask_logits=[mask]), coords)[0]['pred_occ_sem']
    # voxel 0: car 0.72 > road 0.3; voxel 1: road 0.54 > car 0.27; voxel 2: car 0.0045 and
    # road 0.006 are both below 0.01: free.
    assert sem[0, 0, 0] == 4 and sem[1, 0, 0] == 11 and sem[2, 0, 0] == FREE


def test_panoptic_inference_gives_instances():
    coords, gt, inst = _scene()
    inst[0, 3, 2, 1] = 3  # the car is two instances now
    head = MODELS.build(_cfg(panoptic=True))
    result = head.predict(_perfect(head, coords, gt, inst), coords)[0]
    assert torch.equal(result['pred_occ_sem'], gt[0])
    ids = result['pred_occ_inst']
    assert ids.dtype == torch.int32 and ids.shape == GRID
    assert ids[2, 2, 1] != ids[3, 2, 1] and ids[2, 2, 1] > 0 and ids[6, 6, 1] == ids[6, 6, 2] > 0
    # A stuff class is one segment of its own; free voxels are none.
    road = ids[gt[0] == 11]
    assert (road == road[0]).all() and road[0] > 0
    assert road[0] not in (ids[2, 2, 1], ids[3, 2, 1], ids[6, 6, 1])
    assert (ids[gt[0] == FREE] == 0).all()


def test_panoptic_merge_by_hand():
    """SparseOcc's panoptic merge: confident queries claim the voxels where score x mask is
    largest; a query keeps its claimed voxels with mask >= 0.5 unless they are under
    overlap_threshold of its mask; a second query of a seen stuff class joins that segment
    but leaves its voxels' label free (SparseOcc's code does so)."""
    head = MODELS.build(_cfg(num_queries=5, score_threshold=0.3, panoptic=True))
    cls = torch.full((5, NUM_CLASSES), 0.0)
    cls[0, 4], cls[1, 11], cls[2, 11], cls[3, 4], cls[4, 7] = 0.9, 0.8, 0.7, 0.6, 0.2
    # voxels:    0    1    2    3    4    5
    mask = torch.tensor([[0.9, 0.9, 0.1, 0.1, 0.1, 0.1],    # car: voxels 0, 1
                         [0.1, 0.1, 0.9, 0.1, 0.1, 0.1],    # road: voxel 2
                         [0.1, 0.1, 0.1, 0.9, 0.1, 0.1],    # road again: voxel 3
                         [0.95, 0.1, 0.1, 0.1, 0.9, 0.9],   # car: loses voxel 0, keeps 2/3
                         [0.1, 0.1, 0.1, 0.1, 0.1, 0.9]])   # dropped (score 0.2)
    segment, labels = head.merge_panoptic(cls, mask)
    # Query 3 claims voxels 4, 5 (0.6 x 0.9 beats the others) but not voxel 0 (0.9 x 0.9 >
    # 0.6 x 0.95): 2 of its 3 mask voxels, under 0.8: dropped.
    assert segment.tolist() == [1, 1, 2, 2, 0, 0]
    assert labels.tolist() == [4, 4, 11, FREE, FREE, FREE]


def test_voxels_outside_the_valid_mask_get_no_loss_and_no_gradient():
    torch.manual_seed(0)
    coords, gt, _ = _scene()
    head = MODELS.build(_cfg())
    valid = torch.ones_like(gt, dtype=torch.bool)
    valid[0, :4] = False                                     # x < 4 unknown
    feats = torch.randn(1, coords.shape[1], 16)
    preds = head(coords, feats, _images())
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
