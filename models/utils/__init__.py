"""Shared model utilities: the per-view image feature cache and warm starts."""
from .feature_cache import ImageFeatureCache, view_keys
from .warm_start import warm_start

__all__ = ['ImageFeatureCache', 'view_keys', 'warm_start']
