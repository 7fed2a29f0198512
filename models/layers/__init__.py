"""Building blocks shared by the sparse voxel decoder and the mask head."""
from .adaptive_mixing import AdaptiveMixing
from .distance_attention import DistanceBiasedSelfAttention
from .voxel_sampling import VoxelSampling

__all__ = ['AdaptiveMixing', 'DistanceBiasedSelfAttention', 'VoxelSampling']
