"""Coarse-to-fine sparse voxel decoder with geometry-guided sparse voxel proposal."""
from .sparse_voxel_decoder import SparseVoxelDecoder, voxel_centres

__all__ = ['SparseVoxelDecoder', 'voxel_centres']
