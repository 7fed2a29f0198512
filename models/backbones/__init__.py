"""Image encoder (backbone + neck glue)."""
from .image_encoder import ImageEncoder

__all__ = ['ImageEncoder']
