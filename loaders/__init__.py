"""Datasets, pipelines and metrics of GD-OCC; importing registers them (mmdet3d registries)."""
from . import datasets, occ_metric, pipelines  # noqa: F401 -- registers the modules
from .old_metrics import Metric_mIoU
from .ray_metrics import main_raypq, main_rayiou

__all__ = ['Metric_mIoU', 'main_rayiou', 'main_raypq']
