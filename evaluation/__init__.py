"""Occ3D-nuScenes metrics: RayIoU and RayPQ (SparseOcc's definitions), the Occ3D mIoU and the
mmengine metric that combines them; importing registers ``OccupancyMetric`` (mmdet3d)."""
from . import occ_metric  # noqa: F401 -- registers the metric
from .old_metrics import Metric_mIoU
from .ray_metrics import main_rayiou, main_raypq

__all__ = ['Metric_mIoU', 'main_rayiou', 'main_raypq']
