"""Pipeline transforms of GD-OCC (registered in mmdet3d's TRANSFORMS)."""
from .formatting import PackOccInputs
from .loading import LiDARDepthTarget, LoadMultiViewImages, LoadOccupancy
from .photometric import MultiViewPhotoMetricDistortion
from .transforms import BEVAug, ImageAug3D

__all__ = ['BEVAug', 'ImageAug3D', 'LiDARDepthTarget', 'LoadMultiViewImages', 'LoadOccupancy',
           'MultiViewPhotoMetricDistortion', 'PackOccInputs']
