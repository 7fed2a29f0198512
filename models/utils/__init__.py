"""Shared model utilities."""
from .feature_cache import ImageFeatureCache, view_keys
from .multiview_sample import (CompiledMultiviewSampler, MultiviewBilinearSampler,
                               project_points)

__all__ = ['CompiledMultiviewSampler', 'ImageFeatureCache', 'MultiviewBilinearSampler',
           'project_points', 'view_keys']
