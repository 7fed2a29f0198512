"""Compiled ops with pure-PyTorch references (see ``backend`` for how one is chosen)."""
from .multiview_sampling import multiview_sampling, multiview_sampling_reference, to_sampling_layout
from .ray_cast import ray_cast, ray_cast_reference
from .voxel_pooling import (VoxelPoolingRanks, voxel_pooling, voxel_pooling_prepare,
                            voxel_pooling_reference)

__all__ = ['multiview_sampling', 'multiview_sampling_reference', 'to_sampling_layout',
           'ray_cast', 'ray_cast_reference', 'VoxelPoolingRanks', 'voxel_pooling',
           'voxel_pooling_prepare', 'voxel_pooling_reference']
