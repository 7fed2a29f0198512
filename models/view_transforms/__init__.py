"""View transforms: image features -> voxel volumes (GD-OCC's GVT branches)."""
from .lss import CameraAwareDepthNet, LSSViewTransform

__all__ = ['CameraAwareDepthNet', 'LSSViewTransform']
