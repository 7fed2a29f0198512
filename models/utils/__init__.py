"""Shared model utilities."""
from .multiview_sample import MultiviewBilinearSampler, project_points

__all__ = ['MultiviewBilinearSampler', 'project_points']
