"""Shared model utilities."""
from .feature_cache import ImageFeatureCache, view_keys
from .multiview_sample import MultiviewImages, lookup_depth_probability, project_points
from .warm_start import warm_start

__all__ = ['ImageFeatureCache', 'MultiviewImages', 'lookup_depth_probability',
           'project_points', 'view_keys', 'warm_start']
