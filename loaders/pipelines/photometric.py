"""Photometric augmentation of every view (SparseOcc's ``img_color_aug``).

mmdet's ``PhotoMetricDistortion`` (random brightness, contrast, saturation and hue, each
with probability 0.5; its defaults are SparseOcc's) runs on each image of ``results['img']``
independently. It works on BGR images; RGB views are reversed around it.
"""
import numpy as np
from mmcv.transforms import BaseTransform
from mmdet.datasets.transforms import PhotoMetricDistortion

from mmdet3d.registry import TRANSFORMS


@TRANSFORMS.register_module()
class MultiViewPhotoMetricDistortion(BaseTransform):
    """Photometric distortion of each view; keys ``img`` (list of uint8 [H, W, 3]).

    Args:
        color_order (str): channel order of the images, ``'rgb'`` or ``'bgr'``.
        **kwargs: mmdet ``PhotoMetricDistortion`` arguments (``brightness_delta``,
            ``contrast_range``, ``saturation_range``, ``hue_delta``).
    """

    def __init__(self, color_order='rgb', **kwargs):
        if color_order not in ('rgb', 'bgr'):
            raise ValueError(f"color_order must be 'rgb' or 'bgr', got {color_order!r}")
        self.reverse = color_order == 'rgb'
        self.distortion = PhotoMetricDistortion(**kwargs)

    def transform(self, results):
        images = []
        for image in results['img']:
            bgr = image[..., ::-1] if self.reverse else image
            out = self.distortion.transform(dict(img=np.ascontiguousarray(bgr)))['img']
            out = np.clip(out, 0, 255).astype(np.uint8)
            images.append(np.ascontiguousarray(out[..., ::-1]) if self.reverse else out)
        results['img'] = images
        return results
