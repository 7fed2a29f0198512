"""tools/diagnose_proposal.py: on hand-built grids, the oracle on the kept voxels, the per-class
fate of the kept voxels and the ground line; on the tiny toy world with an initialised GD-OCC
checkpoint, recall counts per level and height consistent with the ground truth."""
import numpy as np
import pytest

from tools import diagnose_proposal
from tools.diagnose_proposal import (GROUND_CLASSES, above_ground, class_counts, diagnostic_targets,
                                     distance_bands, oracle_on_kept, query_masks, split_decisions)


def test_ground_classes_are_the_flat_classes_by_name():
    assert GROUND_CLASSES == (11, 12, 13, 14)


def test_oracle_on_kept_keeps_the_labels_of_kept_voxels_only():
    gt = np.full((4, 4, 2), 17, dtype=np.uint8)
    gt[0, 0, 0], gt[1, 1, 1], gt[2, 2, 0] = 11, 4, 15
    pred = oracle_on_kept(np.array([[0, 0, 0], [1, 1, 1], [3, 3, 1]]), gt, 17)
    expected = np.full_like(gt, 17)
    expected[0, 0, 0], expected[1, 1, 1] = 11, 4
    np.testing.assert_array_equal(pred, expected)


def test_split_decisions_make_one_decision_perfect_each():
    gt = np.full((3, 1, 2), 17, dtype=np.uint8)
    gt[0, 0, 0], gt[1, 0, 0], gt[2, 0, 1] = 11, 4, 15
    pred = np.full_like(gt, 17)
    pred[0, 0, 0], pred[2, 0, 0] = 13, 16     # road called sidewalk; a free voxel called veg
    kept = np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0]])
    best = np.array([13, 10, 16])              # the car's voxel: truck, below the threshold
    right_classes, right_occupancy = split_decisions(kept, gt, pred, best, 17)
    expected = pred.copy()
    expected[0, 0, 0] = 11                     # relabelled; the car stays free, veg stays
    np.testing.assert_array_equal(right_classes, expected)
    expected = np.full_like(gt, 17)
    expected[0, 0, 0], expected[1, 0, 0] = 13, 10   # the head's classes where gt occupied
    np.testing.assert_array_equal(right_occupancy, expected)


def test_query_masks_follow_the_most_confident_query_of_each_class():
    class_prob = np.array([[0.9, 0.1], [0.2, 0.6], [0.1, 0.7]])
    mask_prob = np.array([[0.8, 0.7, 0.1], [0.0, 0.3, 0.9], [0.0, 0.0, 0.0]])
    result = query_masks(class_prob, mask_prob, np.array([0, 0, 1]), 2)
    assert result[0][0] == 0.9 and result[0][1].tolist() == [0.8, 0.7]
    assert result[1][0] == 0.7 and result[1][1].tolist() == [0.0]   # query 2: collapsed


def test_class_counts_split_kept_voxels_by_ground_truth_class():
    gt = np.full((3, 3, 2), 17, dtype=np.uint8)
    gt[0, 0, 0] = gt[0, 1, 0] = 11      # two driveable-surface targets
    gt[1, 1, 1] = 4                     # a car target
    gt[2, 2, 1] = 15                    # manmade, occupied but no target
    targets = np.isin(gt, (11, 4))
    pred = np.full_like(gt, 17)
    pred[0, 0, 0], pred[1, 1, 1] = 11, 15
    is_kept = np.zeros(gt.shape, dtype=bool)
    is_kept[0, 0, 0] = is_kept[1, 1, 1] = is_kept[2, 2, 1] = is_kept[2, 0, 0] = True
    counts = class_counts(is_kept, targets, gt, pred, 17)
    expected = np.zeros((4, 18), dtype=np.int64)
    expected[:, 11] = (2, 1, 1, 0)      # one of two kept, labelled right
    expected[:, 4] = (1, 1, 0, 0)       # kept, labelled manmade
    expected[3, 15] = 1                 # kept occupied non-target
    expected[3, 17] = 1                 # kept free voxel
    np.testing.assert_array_equal(counts, expected)


def test_distance_bands_split_targets_by_horizontal_distance():
    targets = np.zeros((200, 200, 16), dtype=bool)
    targets[100, 100, 0] = targets[100, 100, 9] = True   # 0.28 m from the ego
    targets[125, 100, 3] = True                           # 10.2 m
    targets[199, 199, 2] = True                           # 56 m
    kept = np.zeros_like(targets)
    kept[100, 100, 0] = kept[199, 199, 2] = True
    prior = np.zeros(targets.shape)
    prior[100, 100, 0], prior[100, 100, 9], prior[199, 199, 2] = 8.0, 2.0, 0.5
    bands = distance_bands(targets, kept, prior, (-40.0, -40.0, -1.0), 0.4)
    assert [(b['targets'], b['kept']) for b in bands] == [(2, 1), (1, 0), (0, 0), (0, 0),
                                                          (1, 1)]
    assert bands[0]['prior_kept'].tolist() == [8.0] and bands[0]['prior_dropped'].tolist() == [2.0]
    assert bands[4]['prior_kept'].tolist() == [0.5]


def test_above_ground_is_above_the_highest_ground_voxel_of_the_column():
    gt = np.full((2, 1, 4), 17, dtype=np.uint8)
    gt[0, 0, :2] = (14, 11)            # terrain under road: ground top at height 1
    gt[0, 0, 2] = 4                    # a car on it
    gt[1, 0, 1] = 15                   # a column without ground
    above = above_ground(gt)
    assert above[0, 0].tolist() == [False, False, True, True]
    assert above[1, 0].all()


@pytest.mark.toy_world
def test_counts_are_consistent_with_the_ground_truth(small_gdocc_config, gdocc_weights,
                                                      monkeypatch, capsys):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from mmdet3d.registry import DATASETS

    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    result = diagnose_proposal.main(['--config', small_gdocc_config, '--weights',
                                     str(gdocc_weights), '--num', '3', '--no-progress'])
    stages = result['stages']
    assert [stats.shape for stats in stages] == [(3, 4), (3, 8), (3, 16)]
    for positives, candidates, kept in stages:
        assert (kept <= candidates).all() and (candidates <= positives).all()
    # Stage 0's candidates are all children of the dense coarse grid.
    np.testing.assert_array_equal(stages[0][1], stages[0][0])
    cfg = Config.fromfile(small_gdocc_config)
    init_default_scope('mmdet3d')
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    targets, above = 0, 0
    for sample in (dataset[i]['data_samples'] for i in range(3)):
        gt = np.asarray(sample.gt_occ_sem)
        mask = diagnostic_targets(gt, sample.mask_camera, 17, 2)
        assert (gt[mask] != 17).all()               # targets are occupied voxels
        targets = targets + mask.sum((0, 1))
        above += (mask & above_ground(gt)).sum()
    np.testing.assert_array_equal(stages[-1][0], targets)
    classes = result['classes']
    assert classes[0].sum() == targets.sum()
    assert classes[1].sum() == stages[-1][2].sum()      # kept targets, per class or height
    assert (classes[2] <= classes[1]).all() and (classes[1] <= classes[0]).all()
    assert classes[0, 17] == 0                          # free voxels are never targets
    assert result['above_ground'][0] == above and result['above_ground'][1] <= above
    assert 0 <= result['RayIoU'] <= 1 and 0 < result['oracle_RayIoU'] <= 1
    assert 0 < result['targets_RayIoU'] <= 1
    assert 0 <= result['right_classes_RayIoU'] <= 1 and 0 <= result['right_occupancy_RayIoU'] <= 1
    kept_per_class = sum(len(masks) for _, masks in result['queries'])
    assert kept_per_class == int((result['classes'][1].sum() + result['classes'][3].sum()
                                  - result['classes'][3, 17]))
    out = capsys.readouterr().out
    assert 'on the targets' in out and 'above-ground targets kept' in out
    assert 'perfect free / occupied decision' in out


@pytest.mark.toy_world
def test_missing_checkpoint_is_a_one_line_error(small_gdocc_config, tmp_path):
    with pytest.raises(SystemExit, match='error: .*missing.pth'):
        diagnose_proposal.main(['--config', small_gdocc_config, '--weights',
                                str(tmp_path / 'missing.pth')])
