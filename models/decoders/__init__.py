"""Coarse-to-fine sparse voxel decoder with geometry-guided sparse voxel proposal."""
from .sparse_voxel_decoder import SparseVoxelDecoder

__all__ = ['SparseVoxelDecoder']
