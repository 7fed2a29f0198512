"""Image encoder (backbone + neck glue)."""
from .image_encoder import ImageEncoder, rename_checkpoint_keys

__all__ = ['ImageEncoder', 'rename_checkpoint_keys']
