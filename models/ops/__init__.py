"""Compiled ops with pure-PyTorch references (see ``backend`` for how one is chosen)."""
from .ray_cast import ray_cast, ray_cast_reference

__all__ = ['ray_cast', 'ray_cast_reference']
