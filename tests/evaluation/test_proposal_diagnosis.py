"""evaluation.proposal_diagnosis on hand-built grids: the oracle on the kept voxels, the
per-class fate of the kept voxels and the ground line."""
import numpy as np

from evaluation.proposal_diagnosis import GROUND_CLASSES, above_ground, class_counts, oracle_on_kept


def test_ground_classes_are_the_flat_classes_by_name():
    assert GROUND_CLASSES == (11, 12, 13, 14)


def test_oracle_on_kept_keeps_the_labels_of_kept_voxels_only():
    gt = np.full((4, 4, 2), 17, dtype=np.uint8)
    gt[0, 0, 0], gt[1, 1, 1], gt[2, 2, 0] = 11, 4, 15
    pred = oracle_on_kept(np.array([[0, 0, 0], [1, 1, 1], [3, 3, 1]]), gt, 17)
    expected = np.full_like(gt, 17)
    expected[0, 0, 0], expected[1, 1, 1] = 11, 4
    np.testing.assert_array_equal(pred, expected)


def test_class_counts_split_kept_voxels_by_ground_truth_class():
    gt = np.full((3, 3, 2), 17, dtype=np.uint8)
    gt[0, 0, 0] = gt[0, 1, 0] = 11      # two driveable-surface targets
    gt[1, 1, 1] = 4                     # a car target
    gt[2, 2, 1] = 15                    # manmade, occupied but no target
    targets = np.isin(gt, (11, 4))
    pred = np.full_like(gt, 17)
    pred[0, 0, 0], pred[1, 1, 1] = 11, 15
    kept = np.array([[0, 0, 0], [1, 1, 1], [2, 2, 1], [2, 0, 0]])
    counts = class_counts(kept, targets, gt, pred, 17)
    expected = np.zeros((4, 18), dtype=np.int64)
    expected[:, 11] = (2, 1, 1, 0)      # one of two kept, labelled right
    expected[:, 4] = (1, 1, 0, 0)       # kept, labelled manmade
    expected[3, 15] = 1                 # kept occupied non-target
    expected[3, 17] = 1                 # kept free voxel
    np.testing.assert_array_equal(counts, expected)


def test_above_ground_is_above_the_highest_ground_voxel_of_the_column():
    gt = np.full((2, 1, 4), 17, dtype=np.uint8)
    gt[0, 0, :2] = (14, 11)            # terrain under road: ground top at height 1
    gt[0, 0, 2] = 4                    # a car on it
    gt[1, 0, 1] = 15                   # a column without ground
    above = above_ground(gt)
    assert above[0, 0].tolist() == [False, False, True, True]
    assert above[1, 0].all()
