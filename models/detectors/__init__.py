"""Detectors: full GD-OCC models composed from the registered modules."""
from .gdocc import GDOcc

__all__ = ['GDOcc']
