"""View transforms: image features -> voxel volumes (GD-OCC's GVT branches)."""
from .fusion import GatedVolumeFusion
from .implicit import ImplicitViewTransform, lookup_depth_probability
from .lss import CameraAwareDepthNet, LSSViewTransform

__all__ = ['CameraAwareDepthNet', 'GatedVolumeFusion', 'ImplicitViewTransform',
           'LSSViewTransform', 'lookup_depth_probability']
