"""Sparse voxel decoder."""
from .sparse_voxel_decoder import SparseVoxelDecoder, chunked_self_attention, voxel_centres

__all__ = ['SparseVoxelDecoder', 'chunked_self_attention', 'voxel_centres']
