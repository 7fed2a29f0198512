"""Geometry-guided sparse voxel proposal."""
from .sparse_voxel_proposal import SparseVoxelProposal

__all__ = ['SparseVoxelProposal']
