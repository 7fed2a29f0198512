"""View transforms: image features -> voxel volumes (GD-OCC's GVT branches)."""
from .fusion import GatedVolumeFusion
from .implicit import ImplicitViewTransform
from .lss import CameraAwareDepthNet, LSSViewTransform
from .temporal_stereo import TemporalStereoCost

__all__ = ['CameraAwareDepthNet', 'GatedVolumeFusion', 'ImplicitViewTransform',
           'LSSViewTransform', 'TemporalStereoCost']
