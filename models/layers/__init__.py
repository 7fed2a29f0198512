"""Building blocks shared by the view transforms, the sparse voxel decoder and the mask head;
``depth_weighted_sampling`` is the paper's geometry-driven sampling."""
from .adaptive_mixing import AdaptiveMixing
from .depth_weighted_sampling import MultiviewImages, lookup_depth_probability, project_points
from .distance_attention import DistanceBiasedSelfAttention
from .voxel_sampling import VoxelSampling

__all__ = ['AdaptiveMixing', 'DistanceBiasedSelfAttention', 'MultiviewImages',
           'VoxelSampling', 'lookup_depth_probability', 'project_points']
