"""Voxel mIoU against hand-computed confusion matrices."""
import numpy as np
import pytest

from evaluation.old_metrics import Metric_mIoU


def _metric(**kwargs):
    names = ['a', 'b', 'free']
    return Metric_mIoU(num_classes=3, class_names=names, **kwargs)


def test_miou_equals_the_hand_computed_confusion_matrix():
    gt = np.array([0, 0, 1, 1, 2, 2], dtype=np.uint8).reshape(1, 2, 3)
    pred = np.array([0, 1, 1, 1, 2, 0], dtype=np.uint8).reshape(1, 2, 3)
    metric = _metric(use_image_mask=False)
    metric.add_batch(pred, gt, None, None)
    # rows = GT: a -> {a: 1, b: 1}; b -> {b: 2}; free -> {a: 1, free: 1}
    np.testing.assert_array_equal(metric.hist, [[1, 1, 0], [0, 2, 0], [1, 0, 1]])
    iou_a, iou_b = 1 / (2 + 2 - 1), 2 / (2 + 3 - 2)
    assert metric.count_miou(verbose=False) == pytest.approx(round((iou_a + iou_b) / 2 * 100, 2))


def test_camera_mask_is_honoured_even_as_uint8():
    gt = np.array([[[0, 1, 1]]], dtype=np.uint8)
    pred = np.array([[[0, 0, 1]]], dtype=np.uint8)
    mask_camera = np.array([[[1, 0, 1]]], dtype=np.uint8)  # hides the only error
    metric = _metric(use_image_mask=True)
    metric.add_batch(pred, gt, None, mask_camera)
    assert metric.count_miou(verbose=False) == 100.0
    unmasked = _metric(use_image_mask=False)
    unmasked.add_batch(pred, gt, None, mask_camera)
    assert unmasked.count_miou(verbose=False) == pytest.approx(round((0.5 + 0.5) / 2 * 100, 2))


def test_lidar_mask_and_accumulation_over_samples(capsys):
    gt = np.array([[[0, 1]]], dtype=np.uint8)
    metric = _metric(use_image_mask=False, use_lidar_mask=True)
    metric.add_batch(np.array([[[0, 0]]]), gt, np.array([[[1, 0]]]), None)
    metric.add_batch(np.array([[[1, 1]]]), gt, np.array([[[0, 1]]]), None)
    assert metric.cnt == 2
    assert metric.count_miou() == 100.0
    assert '===> mIoU of 2 samples: 100.0' in capsys.readouterr().out


def test_errors_for_missing_masks_and_shape_mismatch():
    metric = _metric()
    with pytest.raises(ValueError, match='mask_camera'):
        metric.add_batch(np.zeros((2, 2, 2)), np.zeros((2, 2, 2)), None, None)
    with pytest.raises(ValueError, match='shape'):
        metric.add_batch(np.zeros((2, 2, 2)), np.zeros((2, 2, 3)), None, np.ones((2, 2, 3)))


def test_class_absent_from_the_ground_truth_is_skipped_even_when_predicted():
    # GT holds only class a and free; the prediction also paints b. Occ3D's Metric_mIoU
    # sets b's IoU to nan (no GT voxel), so mIoU is a's IoU alone: 1 / (2 + 1 - 1).
    gt = np.array([[[0, 0, 2, 2]]], dtype=np.uint8)
    pred = np.array([[[0, 1, 2, 2]]], dtype=np.uint8)
    metric = _metric(use_image_mask=False)
    metric.add_batch(pred, gt, None, None)
    iou = metric.per_class_iou()
    assert iou[0] == pytest.approx(0.5) and np.isnan(iou[1])
    assert metric.count_miou(verbose=False) == 50.0
