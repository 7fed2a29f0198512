"""Image encoder: an mmdet backbone (ResNet) + neck (FPN) over every camera of every frame.

Views are frame-major, ``view = t * num_cams + camera``, frame 0 the current one (the data
pipeline's ``inputs['img']`` [B, T * num_cams, 3, H, W]). Past frames may run without
gradient (SparseOcc / BEVDet4D practice: saves memory and time, the current frame still
trains the encoder).
"""
import torch
from mmengine.model import BaseModule

from mmdet3d.registry import MODELS


@MODELS.register_module()
class ImageEncoder(BaseModule):
    """Backbone + neck applied to every view.

    Args:
        backbone (dict): mmdet backbone config, e.g. ``dict(type='mmdet.ResNet', depth=50,
            out_indices=(1, 2, 3), frozen_stages=1, norm_eval=True, with_cp=True, ...)``;
            frozen stages, norm_eval and checkpointing are the backbone's own options.
        neck (dict): mmdet neck config, e.g. ``dict(type='mmdet.FPN', in_channels=[512,
            1024, 2048], out_channels=256, num_outs=4)``.
        num_cams (int): cameras per frame.
        num_grad_frames (int, optional): frames (from the current one) that get gradients;
            the remaining past frames are encoded under ``torch.no_grad()``. Must be >= 1.
            Default: every frame (SparseOcc's and the paper's setting).
        init_cfg (dict, optional): mmengine initialisation config.
    """

    def __init__(self, backbone, neck, num_cams=6, num_grad_frames=None, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if num_grad_frames is not None and num_grad_frames < 1:
            raise ValueError('num_grad_frames must be >= 1 (the current frame trains)')
        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck)
        self.num_cams = num_cams
        self.num_grad_frames = num_grad_frames

    def encode(self, images):
        """Backbone + neck on a flat batch of views.

        Args:
            images (Tensor): float [M, 3, H, W], normalised images (any views, any frames).

        Returns:
            list of Tensor: one per neck level, float [M, C, H_l, W_l]; each view's features
            depend on that view alone (no cross-view normalisation in eval mode), which
            lets inference cache them per image.
        """
        return list(self.neck(self.backbone(images)))

    def forward(self, img):
        """
        Args:
            img (Tensor): float [B, T * num_cams, 3, H, W], normalised images.

        Returns:
            list of Tensor: one per neck level, float [B, T * num_cams, C, H_l, W_l].
        """
        batch, num_views = img.shape[:2]
        if num_views % self.num_cams:
            raise ValueError(f'ImageEncoder: {num_views} views is not frames x '
                             f'{self.num_cams} cameras')
        split = num_views if self.num_grad_frames is None else \
            min(self.num_grad_frames * self.num_cams, num_views)
        levels = self.encode(img[:, :split].flatten(0, 1))
        if split < num_views:
            with torch.no_grad():
                past = self.encode(img[:, split:].flatten(0, 1))
            levels = [torch.cat([cur.view(batch, split, *cur.shape[1:]),
                                 old.view(batch, num_views - split, *old.shape[1:])], 1)
                      for cur, old in zip(levels, past)]
        else:
            levels = [lv.view(batch, num_views, *lv.shape[1:]) for lv in levels]
        return levels
