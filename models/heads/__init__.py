"""Occupancy heads."""
from .mask_occ_head import MaskOccHead

__all__ = ['MaskOccHead']
