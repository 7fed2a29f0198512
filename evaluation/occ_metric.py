"""mmengine evaluator metric for occupancy: RayIoU, mIoU and (panoptic configs) RayPQ."""
import numpy as np
import torch
from mmengine.evaluator import BaseMetric

from mmdet3d.registry import METRICS

from core.atomic_file import write_json_atomic
from core.occ3d import OCC3D_CLASS_NAMES, OCC3D_THING_CLASSES, OccGrid, free_label_of

from .old_metrics import Metric_mIoU
from .ray_metrics import (THRESHOLDS, cast_pred_and_gt, rayiou_counts, rayiou_from_counts,
                          raypq_counts, raypq_from_stats)


def _numpy(value):
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


@METRICS.register_module()
class OccupancyMetric(BaseMetric):
    """Scores occupancy predictions against Occ3D ground truth.

    Each data sample (dict, as mmengine's evaluator passes them) must hold, on the grid
    [X, Y, Z] of the data (Occ3D's [200, 200, 16] by default):

    - ``pred_occ_sem``: uint8 [X, Y, Z] predicted labels (the last class = free);
    - ``gt_occ_sem``: uint8 [X, Y, Z] ground-truth labels;
    - ``mask_camera`` / ``mask_lidar``: 0/1 [X, Y, Z] visibility masks (the one the mIoU
      uses);
    - ``ray_origins``: float [T, 3] RayIoU ray origins, metres in the sample's ego frame;
    - with ``panoptic=True``: ``pred_occ_inst`` and ``gt_occ_inst``, int [X, Y, Z].

    The class names, thing classes and grid are the dataset's (its metainfo ``classes``,
    ``thing_classes`` and ``occ_grid``, which mmengine's loops hand to the evaluator as
    ``dataset_meta``); arguments given here take precedence, and Occ3D's apply when neither
    says.

    Per-sample statistics (not the grids) are kept, so results gathered across ranks stay
    small and sum exactly: 1-process and N-process evaluations agree.

    Args:
        class_names (sequence of str, optional): label names, free last.
        thing_classes (sequence of str, optional): classes with instances (RayPQ).
        occ_grid (dict, optional): ``grid_min``, ``voxel_size``, ``grid_shape`` of the grids.
        use_image_mask (bool): mIoU over ``mask_camera`` voxels (the Occ3D protocol).
        use_lidar_mask (bool): mIoU over ``mask_lidar`` voxels instead.
        panoptic (bool): also compute RayPQ.
        out_file (str, optional): write the metrics as JSON there (rank 0).
    """
    default_prefix = 'occ'

    def __init__(self, class_names=None, thing_classes=None, occ_grid=None, use_image_mask=True,
                 use_lidar_mask=False, panoptic=False, out_file=None, collect_device='cpu',
                 prefix=None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self._class_names = None if class_names is None else tuple(class_names)
        self._thing_classes = None if thing_classes is None else tuple(thing_classes)
        self._occ_grid = None if occ_grid is None else OccGrid.of(occ_grid)
        self.use_image_mask = use_image_mask
        self.use_lidar_mask = use_lidar_mask
        self.panoptic = panoptic
        self.out_file = out_file

    def _meta(self, key):
        return (self.dataset_meta or {}).get(key)

    @property
    def class_names(self):
        """tuple of str: the label names, free last."""
        names = self._class_names or self._meta('classes') or OCC3D_CLASS_NAMES
        free_label_of(names)
        return tuple(names)

    @property
    def thing_classes(self):
        """tuple of str: the classes forming instances."""
        things = self._thing_classes
        if things is None:
            things = self._meta('thing_classes')
        return tuple(OCC3D_THING_CLASSES if things is None else things)

    @property
    def occ_grid(self):
        """OccGrid: the voxel grid of the labels."""
        return self._occ_grid or OccGrid.of(self._meta('occ_grid'))

    def _new_miou(self, class_names):
        return Metric_mIoU(len(class_names), use_lidar_mask=self.use_lidar_mask,
                           use_image_mask=self.use_image_mask, class_names=class_names)

    def process(self, data_batch, data_samples):
        class_names, occ_grid = self.class_names, self.occ_grid
        for sample in data_samples:
            missing = [k for k in ('pred_occ_sem', 'gt_occ_sem', 'ray_origins') if k not in sample]
            if missing:
                raise KeyError(f'OccupancyMetric: data sample lacks {missing}')
            pred, gt = _numpy(sample['pred_occ_sem']), _numpy(sample['gt_occ_sem'])
            inst_pred = inst_gt = None
            if self.panoptic:
                inst_pred, inst_gt = _numpy(sample['pred_occ_inst']), _numpy(sample['gt_occ_inst'])
            pred_rays, gt_rays = cast_pred_and_gt(pred, gt, _numpy(sample['ray_origins']),
                                                  inst_pred, inst_gt, occ_grid=occ_grid,
                                                  free_label=free_label_of(class_names))
            miou = self._new_miou(class_names)
            miou.add_batch(pred, gt, sample.get('mask_lidar'), sample.get('mask_camera'))
            result = dict(ray_counts=rayiou_counts(pred_rays, gt_rays, len(class_names)),
                          confusion=miou.hist)
            if self.panoptic:
                result['pq_stats'] = raypq_counts(pred_rays, gt_rays, len(class_names),
                                                  class_names=class_names,
                                                  thing_classes=self.thing_classes)
            self.results.append(result)

    def compute_metrics(self, results):
        ray = rayiou_from_counts(sum(r['ray_counts'] for r in results), self.class_names)
        miou = self._new_miou(self.class_names)
        miou.hist = sum(r['confusion'] for r in results)
        miou.cnt = len(results)
        metrics = {key: ray[key] for key in ['RayIoU'] + [f'RayIoU@{t:g}' for t in THRESHOLDS]}
        metrics['mIoU'] = miou.count_miou()
        if self.panoptic:
            pq = raypq_from_stats(sum(r['pq_stats'] for r in results), self.class_names)
            metrics.update({k: v for k, v in pq.items() if k != 'per_class'})
        if self.out_file:
            write_json_atomic(dict(metrics, per_class_RayIoU=ray['per_class'],
                                   num_samples=len(results)), self.out_file)
        return metrics
