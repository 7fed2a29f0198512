"""OccupancyMetric (mmengine evaluator) against the standalone metric functions."""
import json

import numpy as np
import pytest

from core.occ3d import FREE_LABEL
from evaluation.occ_metric import OccupancyMetric
from evaluation.old_metrics import Metric_mIoU
from evaluation.ray_metrics import main_rayiou, main_raypq


def _samples(num, seed=0, panoptic=False):
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(num):
        gt = np.full((200, 200, 16), FREE_LABEL, np.uint8)
        gt[:, :, :2] = 11
        inst = np.zeros(gt.shape, np.int64)
        for obj in range(1, 6):
            x, y = rng.integers(60, 140, 2)
            gt[x:x + 8, y:y + 4, 2:5] = 4
            inst[x:x + 8, y:y + 4, 2:5] = obj
        pred = np.roll(gt, int(rng.integers(-2, 3)), axis=0)
        sample = dict(pred_occ_sem=pred, gt_occ_sem=gt,
                      mask_camera=(rng.random(gt.shape) < 0.7).astype(np.uint8),
                      ray_origins=np.array([[0.98, 0.0, 1.84], [2.0, 0.5, 1.84]]))
        if panoptic:
            sample.update(pred_occ_inst=np.roll(inst, 1, axis=1), gt_occ_inst=inst)
        samples.append(sample)
    return samples


def test_metric_agrees_with_the_standalone_functions(tmp_path):
    samples = _samples(3, panoptic=True)
    out_file = tmp_path / 'metrics.json'
    metric = OccupancyMetric(panoptic=True, out_file=str(out_file))
    metric.dataset_meta = {}
    for sample in samples:
        metric.process({}, [sample])
    result = metric.compute_metrics(metric.results)

    ray = main_rayiou([s['pred_occ_sem'] for s in samples], [s['gt_occ_sem'] for s in samples],
                      [s['ray_origins'] for s in samples], verbose=False)
    miou = Metric_mIoU()
    for s in samples:
        miou.add_batch(s['pred_occ_sem'], s['gt_occ_sem'], None, s['mask_camera'])
    pq = main_raypq([s['pred_occ_sem'] for s in samples], [s['gt_occ_sem'] for s in samples],
                    [s['pred_occ_inst'] for s in samples], [s['gt_occ_inst'] for s in samples],
                    [s['ray_origins'] for s in samples], verbose=False)
    for key in ('RayIoU', 'RayIoU@1', 'RayIoU@2', 'RayIoU@4'):
        assert result[key] == pytest.approx(ray[key])
    assert result['mIoU'] == miou.count_miou(verbose=False)
    assert result['RayPQ'] == pytest.approx(pq['RayPQ'])
    saved = json.loads(out_file.read_text())
    assert saved['RayIoU'] == pytest.approx(result['RayIoU']) and saved['num_samples'] == 3


def test_split_results_sum_to_the_same_metrics():
    samples = _samples(4, seed=1)
    whole, parts = OccupancyMetric(), [OccupancyMetric(), OccupancyMetric()]
    whole.process({}, samples)
    parts[0].process({}, samples[:1])
    parts[1].process({}, samples[1:])
    assert whole.compute_metrics(whole.results) == \
        whole.compute_metrics(parts[0].results + parts[1].results)


def test_missing_keys_are_named():
    with pytest.raises(KeyError, match='ray_origins'):
        OccupancyMetric().process({}, [dict(pred_occ_sem=0, gt_occ_sem=0)])


def test_class_names_and_grid_come_from_the_dataset_meta():
    """On a 100 x 100 x 8 grid of 0.8 m with 3 classes + free, the metric scores what the
    standalone function scores with the same grid and names."""
    names = ('ground', 'thing', 'other', 'free')
    grid = dict(grid_min=[-40.0, -40.0, -1.0], voxel_size=0.8, grid_shape=[100, 100, 8])
    gt = np.full((100, 100, 8), 3, np.uint8)
    gt[:, :, 0] = 0
    gt[55:60, 48:52, 1:3] = 1
    pred = gt.copy()
    pred[55:60, 48:52, 1:3] = 2
    sample = dict(pred_occ_sem=pred, gt_occ_sem=gt, mask_camera=np.ones_like(gt),
                  ray_origins=np.array([[0.98, 0.0, 1.84]]))
    metric = OccupancyMetric()
    metric.dataset_meta = dict(classes=names, thing_classes=('thing',), occ_grid=grid)
    metric.process({}, [sample])
    result = metric.compute_metrics(metric.results)
    ray = main_rayiou([pred], [gt], [sample['ray_origins']], occ_class_names=names,
                      occ_grid=grid, verbose=False)
    assert result['RayIoU'] == pytest.approx(ray['RayIoU'])
    assert ray['per_class']['ground'][0] == pytest.approx(1.0)
    assert ray['per_class']['thing'][0] == 0.0
    with pytest.raises(ValueError, match=r'expected \(200, 200, 16\) voxels'):
        OccupancyMetric().process({}, [sample])  # no dataset meta: Occ3D's grid
