"""Datasets of GD-OCC (registered in mmdet3d's DATASETS)."""
from .occ3d_nuscenes import Occ3DNuScenesDataset

__all__ = ['Occ3DNuScenesDataset']
