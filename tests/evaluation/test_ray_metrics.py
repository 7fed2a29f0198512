"""RayIoU / RayPQ: known answers on hand-built scenes and constructed rays."""
import math

import numpy as np
import pytest

from core.occ3d import FREE_LABEL, OCC3D_CLASS_NAMES
from evaluation import ray_metrics
from evaluation.ray_metrics import (LIDAR_RAYS, CastRays, GroundTruthRayCache, main_rayiou,
                                    main_raypq, rayiou_counts, rayiou_from_counts)

CAR, ROAD, MANMADE = 4, 11, 15
ORIGINS = np.array([[0.9858, 0.0, 1.8402], [3.0, -1.0, 1.84]])


def _scene():
    """Road everywhere, a car ahead, a building behind: uint8 [200, 200, 16]."""
    sem = np.full((200, 200, 16), FREE_LABEL, dtype=np.uint8)
    sem[:, :, :2] = ROAD
    sem[120:130, 95:105, 2:6] = CAR
    sem[40:60, 60:140, 2:14] = MANMADE
    return sem


def test_lidar_rays_follow_the_published_pattern():
    assert LIDAR_RAYS.shape == (14040, 3)
    np.testing.assert_allclose(np.linalg.norm(LIDAR_RAYS, axis=1), 1.0, atol=1e-12)
    pitches = np.arcsin(LIDAR_RAYS[::360, 2])
    np.testing.assert_allclose(pitches[:10], [-(math.pi / 2 - math.atan(k + 1)) for k in range(10)])
    assert pitches[-1] >= 0.21 > pitches[-2]
    np.testing.assert_allclose(np.diff(pitches[9:]), pitches[9] - pitches[8], atol=1e-12)


def test_perfect_prediction_scores_one_for_present_classes_and_nan_for_absent():
    sem = _scene()
    result = main_rayiou([sem], [sem.copy()], [ORIGINS], OCC3D_CLASS_NAMES, verbose=False)
    assert result['RayIoU'] == pytest.approx(1.0)
    for t in (1, 2, 4):
        assert result[f'RayIoU@{t}'] == pytest.approx(1.0)
    for c, name in enumerate(OCC3D_CLASS_NAMES[:-1]):
        if c in (CAR, ROAD, MANMADE):
            assert result['per_class'][name] == pytest.approx([1.0, 1.0, 1.0])
        else:
            assert all(math.isnan(v) for v in result['per_class'][name])


def test_all_free_prediction_scores_zero():
    empty = np.full((200, 200, 16), FREE_LABEL, dtype=np.uint8)
    result = main_rayiou([empty], [_scene()], [ORIGINS], verbose=False)
    assert result['RayIoU'] == 0.0


def test_prediction_two_metres_too_far_counts_only_at_larger_thresholds():
    gt = np.full((200, 200, 16), FREE_LABEL, dtype=np.uint8)
    gt[150:, :, :] = MANMADE  # a wall 20 m ahead, everything else free
    pred = np.full_like(gt, FREE_LABEL)
    pred[155:, :, :] = MANMADE  # 2 m further away
    origins = np.array([[0.0, 0.0, 1.0]])
    result = main_rayiou([pred], [gt], [origins], verbose=False)
    # Along a ray the error is 2 m / (cos(pitch) cos(azimuth)): never below 1 m, below 4 m
    # only for rays within 60 degrees of the wall's normal.
    assert result['RayIoU@1'] == 0.0
    assert 0.0 <= result['RayIoU@2'] < result['RayIoU@4'] < 1.0


def _rays(labels, distances):
    return CastRays(np.asarray(labels, np.uint8), np.asarray(distances, np.float32))


def test_threshold_semantics_on_constructed_rays():
    gt = _rays([CAR, CAR, CAR], [10.0, 10.0, 10.0])
    pred = _rays([CAR, CAR, CAR], [10.8, 11.6, 13.0])  # errors 0.8, 1.6 and 3.0 m
    counts = rayiou_counts(pred, gt)
    assert counts[0, CAR] == 3 and counts[1, CAR] == 3
    assert counts[2:, CAR].tolist() == [1, 2, 3]  # TP at 1 m, 2 m, 4 m
    result = rayiou_from_counts(counts, verbose=False)
    assert result['RayIoU@1'] == pytest.approx(1 / 5)
    assert result['RayIoU@2'] == pytest.approx(2 / 4)
    assert result['RayIoU@4'] == pytest.approx(1.0)


def test_wrong_label_is_never_a_true_positive():
    counts = rayiou_counts(_rays([ROAD], [10.0]), _rays([CAR], [10.0]))
    assert counts[2:].sum() == 0 and counts[0, CAR] == 1 and counts[1, ROAD] == 1
    result = rayiou_from_counts(counts, verbose=False)
    assert result['RayIoU'] == 0.0


def test_origins_accept_a_batch_dimension_and_more_than_eight_are_subsampled():
    sem, pred = _scene(), np.roll(_scene(), 2, axis=0)
    flat = main_rayiou([pred], [sem], [ORIGINS], verbose=False)
    batched = main_rayiou([pred], [sem], [ORIGINS[None]], verbose=False)
    assert flat['RayIoU'] == batched['RayIoU']
    many = np.stack([np.linspace(-10, 10, 20), np.zeros(20), np.full(20, 1.84)], axis=1)
    eight = many[np.round(np.linspace(0, 19, 8)).astype(int)]
    assert main_rayiou([pred], [sem], [many], verbose=False)['RayIoU'] == \
        main_rayiou([pred], [sem], [eight], verbose=False)['RayIoU']


def test_table_is_printed(capsys):
    sem = _scene()
    main_rayiou([sem], [sem], [ORIGINS])
    out = capsys.readouterr().out
    assert 'RayIoU@1' in out and 'car' in out and 'MEAN' in out


def test_ground_truth_is_cast_once_and_reused(monkeypatch):
    cache = GroundTruthRayCache()
    monkeypatch.setattr(ray_metrics, 'GT_RAY_CACHE', cache)
    sem = _scene()
    preds = [sem, np.roll(sem, 3, axis=1)]
    first = [main_rayiou([p], [sem], [ORIGINS], verbose=False)['RayIoU'] for p in preds]
    assert (cache.misses, cache.hits) == (1, 1)
    cache.clear()
    again = [main_rayiou([p], [sem], [ORIGINS], verbose=False)['RayIoU'] for p in preds]
    assert first == again


def test_cache_respects_its_byte_budget():
    cache = GroundTruthRayCache(max_bytes=1)
    cache.get_or_cast(_scene(), ORIGINS)
    cache.get_or_cast(_scene(), ORIGINS)
    assert cache.misses == 2 and cache.hits == 0


def test_bad_shapes_raise_clear_errors():
    with pytest.raises(ValueError, match='sem_gt'):
        main_rayiou([_scene()], [np.zeros((10, 10, 10), np.uint8)], [ORIGINS], verbose=False)
    with pytest.raises(ValueError, match='origins'):
        main_rayiou([_scene()], [_scene()], [np.zeros((4,))], verbose=False)
    with pytest.raises(ValueError, match='length'):
        main_rayiou([_scene()], [], [ORIGINS], verbose=False)


def _instances(sem):
    inst = np.zeros(sem.shape, dtype=np.int64)
    inst[120:130, 95:105, 2:6] = 7
    return inst


def test_raypq_perfect_and_split_instances():
    sem = _scene()
    inst = _instances(sem)
    perfect = main_raypq([sem], [sem], [inst], [inst], [ORIGINS], verbose=False)
    assert perfect['RayPQ'] == pytest.approx(1.0)
    split = inst.copy()
    split[:, 100:] = np.where(split[:, 100:] == 7, 8, 0)  # the car cut in two, left | right
    result = main_raypq([sem], [sem], [split], [inst], [ORIGINS], verbose=False)
    car = result['per_class']['car']
    assert all(v < 1.0 for v in car)
    assert result['per_class']['driveable_surface'] == pytest.approx([1.0, 1.0, 1.0])


BARRIER, PEDESTRIAN, TRUCK = 1, 7, 10


def _pq_rays(labels, instances, distances=None):
    labels = np.asarray(labels, np.uint8)
    distances = np.full(len(labels), 10.0) if distances is None else distances
    return CastRays(labels, np.asarray(distances, np.float32), np.asarray(instances, np.int64))


def _pq(pred, gt):
    return ray_metrics.raypq_from_stats(ray_metrics.raypq_counts(pred, gt), verbose=False)


def test_raypq_stuff_classes_are_one_ground_truth_segment_per_sample():
    # 30 car rays (instance 7), barrier rays of instances 3 (20 rays) and 4 (12 rays), 15
    # road rays; prediction = ground truth, ids included. Barrier is not a thing class: its
    # ground truth is one 32-ray segment, matched by predicted barrier 3 (IoU 20 / 32), while
    # predicted barrier 4 (12 >= 10 rays) is a false positive: PQ 0.625 / 1.5.
    labels = [CAR] * 30 + [BARRIER] * 32 + [ROAD] * 15
    instances = [7] * 30 + [3] * 20 + [4] * 12 + [0] * 15
    rays = _pq_rays(labels, instances)
    result = _pq(rays, rays)
    barrier = (20 / 32) / 1.5
    assert result['per_class']['barrier'] == pytest.approx([barrier] * 3)
    assert result['per_class']['car'] == pytest.approx([1.0] * 3)
    assert result['per_class']['driveable_surface'] == pytest.approx([1.0] * 3)
    assert result['RayPQ'] == pytest.approx((1 + 1 + barrier) / 3)


def test_raypq_thing_rays_without_a_single_class_instance_form_one_segment():
    # Ground-truth instance 5 spans car and truck rays: SparseOcc gives it no class, so its
    # car rays join the car rays of instance 0 in one segment (20 rays), as do its truck
    # rays (10 rays). A prediction with one car instance over those 20 rays scores 1.
    gt = _pq_rays([CAR] * 10 + [CAR] * 10 + [TRUCK] * 10, [0] * 10 + [5] * 10 + [5] * 10)
    pred = _pq_rays(gt.labels, [9] * 20 + [2] * 10)
    result = _pq(pred, gt)
    assert result['per_class']['car'] == pytest.approx([1.0] * 3)
    assert result['per_class']['truck'] == pytest.approx([1.0] * 3)
    # Split the 20 car rays into the predicted instances 9 | 8: IoU 0.5 is no match, two
    # false positives and one false negative.
    pred = _pq_rays(gt.labels, [9] * 10 + [8] * 10 + [2] * 10)
    assert _pq(pred, gt)['per_class']['car'] == pytest.approx([0.0] * 3)


def test_raypq_is_the_nan_mean_over_thresholds_and_classes():
    # Car: ground truth one 30-ray instance, predicted as 20 + 10 rays -> PQ (2/3) / 1.5 at
    # every threshold. Pedestrian: 5 rays (below the 10-ray minimum), predicted 3 m too far:
    # matched only at 4 m (PQ 1); at 1 and 2 m it is neither FP nor FN, so nan.
    gt = _pq_rays([CAR] * 30 + [PEDESTRIAN] * 5, [1] * 30 + [2] * 5)
    pred = _pq_rays(gt.labels, [1] * 20 + [5] * 10 + [2] * 5,
                    distances=[10.0] * 30 + [13.0] * 5)
    result = _pq(pred, gt)
    car = (2 / 3) / 1.5
    assert result['per_class']['car'] == pytest.approx([car] * 3)
    ped = result['per_class']['pedestrian']
    assert math.isnan(ped[0]) and math.isnan(ped[1]) and ped[2] == pytest.approx(1.0)
    assert result['RayPQ@1'] == pytest.approx(car) and result['RayPQ@4'] == pytest.approx(
        (car + 1) / 2)
    # SparseOcc: np.nanmean over the [3 x 18] array, not the mean of the three row means.
    assert result['RayPQ'] == pytest.approx((3 * car + 1) / 4)
    assert result['RayPQ'] != pytest.approx((car + car + (car + 1) / 2) / 3)


def test_raypq_ignores_label_255_in_the_prediction():
    gt = _pq_rays([CAR] * 30, [1] * 30)
    pred = _pq_rays([CAR] * 20 + [255] * 10, [1] * 30)
    # The 255 rays belong to no segment: car 20 of 30 rays -> IoU 2/3, one TP.
    assert _pq(pred, gt)['per_class']['car'] == pytest.approx([2 / 3] * 3)
    grid_pred = _scene()
    grid_pred[0:5] = 255
    result = main_raypq([grid_pred], [_scene()], [_instances(_scene())],
                        [_instances(_scene())], [ORIGINS], verbose=False)
    assert 0.0 < result['RayPQ'] <= 1.0


def test_origins_outside_the_grid_in_z_are_traced_not_rejected():
    # An ego position 2 m above the grid's top (a steep street): SparseOcc's kernel traces
    # its rays into the grid from above; the upward ones never enter and yield free ground
    # truth, so they are dropped. Prediction = ground truth still scores 1.
    sem = _scene()
    origins = np.array([[0.9858, 0.0, 7.4], [3.0, -1.0, -1.3]])
    result = main_rayiou([sem], [sem.copy()], [origins], verbose=False)
    assert result['RayIoU'] == pytest.approx(1.0)
    pred = np.full_like(sem, FREE_LABEL)
    assert main_rayiou([pred], [sem], [origins], verbose=False)['RayIoU'] == 0.0
