"""Explicit (LSS) branch of GD-OCC's geometry-driven view transformation.

A camera-aware DepthNet predicts, for every feature cell of the current frame's cameras, a
categorical depth distribution over D bins and a context vector. Every (cell, depth bin) is a
frustum point; un-projecting it with the inverse of the image's ``ego2img`` puts it in the
(augmented) current ego frame, and voxel pooling splats ``depth x context`` into a voxel
volume. Pooling the depth probabilities alone gives the geometric prior used by the sparse
voxel proposal (the depth mass that fell into each voxel), on its own grid: typically the
full occupancy grid, from depth maps upsampled so that the frustum points are dense enough
for its small voxels.

Frames and conventions (see ``loaders/pipelines/camera_geometry.py``):

- ``ego2img`` [4, 4] maps augmented current-ego metres to ``(u d, v d, d, 1)``, (u, v)
  augmented-image pixels (pixel centres at integer coordinates), d the depth along the
  optical axis in metres. Its inverse therefore undoes both the image and the BEV
  augmentation, so no augmentation matrix is needed for the geometry.
- A feature map of stride ``s`` has cell (i, j) covering pixels [j s, (j + 1) s) x
  [i s, (i + 1) s); its centre is pixel ``(j s + (s - 1) / 2, i s + (s - 1) / 2)``.
- Depth bin k of ``depth_bins = (d_min, d_max, step)`` covers [d_min + k step, d_min +
  (k + 1) step) (as in :class:`DepthLoss`); its frustum point sits at the bin centre.
- Volumes are ``[B, C, X, Y, Z]`` indexed like the occupancy grid (x, y, z); voxel (i, j, k)
  spans ``grid_min + voxel_size * [i, i + 1) x [j, j + 1) x [k, k + 1)``.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from mmdet3d.registry import MODELS

from core.occ3d import GRID_MIN

from ..ops.voxel_pooling import voxel_pooling, voxel_pooling_prepare

# Camera descriptor fed to the camera-aware MLP: fx, fy, cx, cy of the augmented intrinsics
# (4), the image augmentation's 2x3 pixel affine (6), cam2ego rotation (9) and translation (3).
CAMERA_PARAM_DIMS = 22


def camera_params(cam2img, cam2ego, img_aug):
    """Flattens each camera's geometry into the DepthNet's MLP input.

    Args:
        cam2img (Tensor): float [..., 4, 4], intrinsics of the image on disk.
        cam2ego (Tensor): float [..., 4, 4], camera -> (augmented) ego frame.
        img_aug (Tensor): float [..., 4, 4], pixels on disk -> augmented pixels.

    Returns:
        Tensor: float [..., 22]: (fx, fy, cx, cy) of ``img_aug @ cam2img`` (the intrinsics
        of the image the network actually sees), the 2x3 affine of ``img_aug``, the 3x3
        rotation and the translation of ``cam2ego``.
    """
    intrinsics = img_aug @ cam2img
    return torch.cat([
        intrinsics[..., 0, 0:1], intrinsics[..., 1, 1:2],
        intrinsics[..., 0, 2:3], intrinsics[..., 1, 2:3],
        img_aug[..., :2, :3].flatten(-2),
        cam2ego[..., :3, :3].flatten(-2),
        cam2ego[..., :3, 3],
    ], dim=-1)


class _ChannelGate(nn.Module):
    """SE-style gate: a per-camera embedding rescales the feature channels (0..1)."""

    def __init__(self, channels):
        super().__init__()
        self.reduce = nn.Conv2d(channels, channels, 1)
        self.act = nn.ReLU(inplace=True)
        self.expand = nn.Conv2d(channels, channels, 1)

    def forward(self, feats, embedding):
        # embedding [M, C] -> [M, C, 1, 1], broadcast over the feature map.
        gate = self.expand(self.act(self.reduce(embedding[..., None, None])))
        return feats * gate.sigmoid()


def _mlp(in_dims, hidden_dims, out_dims):
    layers, dims = [], in_dims
    for hidden in hidden_dims:
        layers += [nn.Linear(dims, hidden), nn.ReLU(inplace=True)]
        dims = hidden
    layers.append(nn.Linear(dims, out_dims))
    return nn.Sequential(*layers)


class CameraAwareDepthNet(nn.Module):
    """Depth and context prediction modulated by the camera geometry (BEVDepth-style).

    The same image feature means different depths under different intrinsics / mounting, so
    an MLP embedding of each camera's parameters gates the feature channels (one gate for
    the depth path, one for the context path) before the prediction heads.

    Args:
        in_channels (int): C_in of the image features.
        mid_channels (int): width of the shared trunk and the gates.
        context_channels (int): C of the predicted context vectors.
        depth_bins (int): D, the number of depth bins.
        mlp_hidden_dims (sequence of ints): hidden widths of the camera MLPs.
    """

    def __init__(self, in_channels, mid_channels, context_channels, depth_bins,
                 mlp_hidden_dims):
        super().__init__()
        self.reduce = nn.Sequential(
            nn.Conv2d(in_channels, mid_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(mid_channels), nn.ReLU(inplace=True))
        # The raw parameters mix pixels (~100s), metres and unit rotations; a BatchNorm puts
        # them on one scale without hand-tuned normalisers.
        self.param_norm = nn.BatchNorm1d(CAMERA_PARAM_DIMS)
        self.depth_mlp = _mlp(CAMERA_PARAM_DIMS, mlp_hidden_dims, mid_channels)
        self.context_mlp = _mlp(CAMERA_PARAM_DIMS, mlp_hidden_dims, mid_channels)
        self.depth_gate = _ChannelGate(mid_channels)
        self.context_gate = _ChannelGate(mid_channels)
        self.depth_head = nn.Sequential(
            nn.Conv2d(mid_channels, mid_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(mid_channels), nn.ReLU(inplace=True),
            nn.Conv2d(mid_channels, depth_bins, 1))
        self.context_head = nn.Conv2d(mid_channels, context_channels, 1)

    def forward(self, feats, params):
        """
        Args:
            feats (Tensor): float [M, C_in, h, w], M = B * N current-frame images.
            params (Tensor): float [M, 22], from :func:`camera_params`.

        Returns:
            tuple(Tensor, Tensor): depth logits [M, D, h, w] and context [M, C_ctx, h, w].
        """
        x = self.reduce(feats)
        params = self.param_norm(params.to(x.dtype))
        depth = self.depth_head(self.depth_gate(x, self.depth_mlp(params)))
        context = self.context_head(self.context_gate(x, self.context_mlp(params)))
        return depth, context


@MODELS.register_module()
class LSSViewTransform(BaseModule):
    """Explicit view transform: camera-aware depth -> frustum -> voxel pooling.

    The defaults are the paper setting: 256-channel stride-16 features, 88 bins over 1-45 m,
    the decoder's coarsest grid (25 x 25 x 2 voxels of 3.2 m over the Occ3D range).

    Args:
        in_channels (int): C_in of the image features (one FPN level).
        context_channels (int, optional): C of the output volume; default ``in_channels``.
        depth_bins (sequence of 3 floats): (d_min, d_max, step) in metres, e.g. (1, 45, 0.5);
            D = round((d_max - d_min) / step) bins.
        grid_min (sequence of 3 floats): metres of the volume's lowest corner (ego frame),
            e.g. (-40, -40, -1).
        grid_shape (sequence of 3 ints): (X, Y, Z) of the volume, e.g. (50, 50, 4).
        voxel_size (float or sequence of 3 floats): voxel edge(s) in metres of that volume,
            e.g. 1.6 for a 50 x 50 x 4 volume over the Occ3D range.
        downsample (int): stride of the features w.r.t. the augmented image, e.g. 16.
        mid_channels (int, optional): DepthNet trunk width; default ``in_channels``.
        mlp_hidden_dims (sequence of ints, optional): hidden widths of the camera-aware
            MLPs; default ``(in_channels,)``.
        loss_depth (dict): config of the depth loss, e.g. ``dict(type='DepthLoss',
            loss_weight=3.0)``; its ``depth_bound`` defaults to ``depth_bins`` and must
            have as many bins.
        prior_grid_shape (sequence of 3 ints, optional): (X, Y, Z) of the geometric prior,
            same ``grid_min``; default: the volume's grid.
        prior_voxel_size (float or sequence of 3 floats, optional): its voxel edge(s) in
            metres; default: the volume's.
        prior_upsample (int): the depth probabilities are bilinearly upsampled by this
            factor (dividing ``downsample``) before the prior is pooled, so a fine prior
            grid gets frustum points at stride ``downsample / prior_upsample``; each point
            then carries ``1 / prior_upsample ** 2`` of its cell's mass.
        stereo (dict, optional): :class:`TemporalStereoCost` config without ``num_bins``
            (the DepthNet's): its depth-logit terms from matching a past frame are added to
            the DepthNet's; ``forward`` then needs ``stereo_inputs``.
        init_cfg (dict, optional): mmengine initialisation config.
    """

    def __init__(self, in_channels=256, context_channels=None, depth_bins=(1.0, 45.0, 0.5),
                 grid_min=GRID_MIN, grid_shape=(25, 25, 2), voxel_size=3.2, downsample=16,
                 mid_channels=None, mlp_hidden_dims=None,
                 loss_depth=dict(type='DepthLoss', loss_weight=3.0),
                 prior_grid_shape=None, prior_voxel_size=None, prior_upsample=1,
                 stereo=None, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        context_channels = in_channels if context_channels is None else context_channels
        mid_channels = in_channels if mid_channels is None else mid_channels
        mlp_hidden_dims = (in_channels,) if mlp_hidden_dims is None else mlp_hidden_dims
        self.depth_min, self.depth_max, self.depth_step = (float(v) for v in depth_bins)
        if self.depth_step <= 0 or self.depth_max <= self.depth_min:
            raise ValueError(f'LSSViewTransform: bad depth_bins {tuple(depth_bins)}')
        self.num_bins = int(round((self.depth_max - self.depth_min) / self.depth_step))
        self.grid_min = tuple(float(v) for v in grid_min)
        self.grid_shape = tuple(int(s) for s in grid_shape)
        if isinstance(voxel_size, (int, float)):
            voxel_size = (voxel_size,) * 3
        self.voxel_size = tuple(float(v) for v in voxel_size)
        if len(self.grid_min) != 3 or len(self.grid_shape) != 3 or len(self.voxel_size) != 3:
            raise ValueError('LSSViewTransform: grid_min, grid_shape and voxel_size need 3 '
                             'values each')
        self.downsample = int(downsample)
        self.prior_grid_shape = self.grid_shape if prior_grid_shape is None else \
            tuple(int(v) for v in prior_grid_shape)
        if prior_voxel_size is None:
            prior_voxel_size = self.voxel_size
        elif isinstance(prior_voxel_size, (int, float)):
            prior_voxel_size = (prior_voxel_size,) * 3
        self.prior_voxel_size = tuple(float(v) for v in prior_voxel_size)
        self.prior_upsample = int(prior_upsample)
        if self.prior_upsample < 1 or self.downsample % self.prior_upsample:
            raise ValueError(f'LSSViewTransform: prior_upsample {prior_upsample} must divide '
                             f'downsample {self.downsample}')
        self.context_channels = int(context_channels)
        self.depth_net = CameraAwareDepthNet(in_channels, mid_channels, context_channels,
                                             self.num_bins, mlp_hidden_dims)
        self.stereo = None if stereo is None else MODELS.build(
            dict(stereo, num_bins=self.num_bins))
        self.loss_depth = MODELS.build(dict(dict(depth_bound=depth_bins), **loss_depth))
        if getattr(self.loss_depth, 'num_bins', self.num_bins) != self.num_bins:
            raise ValueError(f'LSSViewTransform: loss_depth has {self.loss_depth.num_bins} '
                             f'bins, the DepthNet {self.num_bins}')

    def depth_centres(self, device=None, dtype=torch.float32):
        """Depth bin centres in metres, float [D]."""
        index = torch.arange(self.num_bins, device=device, dtype=dtype)
        return self.depth_min + (index + 0.5) * self.depth_step

    def frustum(self, height, width, device=None, dtype=torch.float32, stride=None):
        """Frustum of one image in augmented pixels x depth.

        Args:
            height, width (int): h, w of the feature map.
            stride (int, optional): its stride in pixels (default ``downsample``).

        Returns:
            Tensor: float [D, h, w, 4], ``(u d, v d, d, 1)`` per depth bin centre d and
            feature-cell centre (u, v) in pixels (see the module docstring).
        """
        stride = self.downsample if stride is None else stride
        offset = (stride - 1) / 2.0
        u = torch.arange(width, device=device, dtype=dtype) * stride + offset
        v = torch.arange(height, device=device, dtype=dtype) * stride + offset
        d = self.depth_centres(device, dtype)
        d, v, u = torch.meshgrid(d, v, u, indexing='ij')   # each [D, h, w]
        return torch.stack([u * d, v * d, d, torch.ones_like(d)], dim=-1)

    def frustum_points(self, ego2img, height, width, stride=None):
        """Ego-frame coordinates of every frustum point.

        Args:
            ego2img (Tensor): float [B, N, 4, 4], augmented ego metres -> ``(u d, v d, d, 1)``.
            height, width (int): h, w of the feature map.
            stride (int, optional): its stride in pixels (default ``downsample``).

        Returns:
            Tensor: [B, N, D, h, w, 3], ego2img's dtype, (x, y, z) metres in the augmented
            current-ego frame.
        """
        # Inverting and un-projecting in float64: the 4x4 mixes pixel-scale and metre-scale
        # entries, and float32 would cost accuracy far from the camera.
        img2ego = torch.linalg.inv(ego2img.double())                 # [B, N, 4, 4]
        frustum = self.frustum(height, width, ego2img.device, torch.float64, stride)
        points = torch.einsum('bnij,dhwj->bndhwi', img2ego, frustum)
        return points[..., :3].to(ego2img.dtype)

    def forward(self, mlvl_feats_current, ego2img, cam2img, cam2ego, img_aug,
                stereo_inputs=None):
        """
        Args:
            mlvl_feats_current (Tensor): float [B, N, C_in, h, w], one feature level of the
                current frame's N cameras (stride ``downsample``).
            ego2img, cam2img, cam2ego, img_aug (Tensor): float [B, N, 4, 4] of those cameras
                (see the module docstring and ``PackOccInputs``).
            stereo_inputs (dict, optional): needed with ``stereo``: ``current`` and
                ``past`` float [B, N, C_s, h_s, w_s] (the same cameras' features in the
                current and a past frame), ``stride`` (int, their stride in pixels),
                ``past_ego2img`` float [B, N, 4, 4] and ``img_shape`` (H, W).

        Returns:
            dict: ``volume`` float32 [B, C_ctx, X, Y, Z] (depth x context splatted),
            ``prior`` float32 [B, 1, *prior_grid_shape] (depth probability mass per voxel)
            and
            ``depth`` [B * N, D, h, w] (softmax probabilities, for the depth loss and the
            implicit branch).
        """
        batch, cams, channels, height, width = mlvl_feats_current.shape
        feats = mlvl_feats_current.reshape(batch * cams, channels, height, width)
        params = camera_params(cam2img, cam2ego, img_aug).reshape(batch * cams, -1)
        depth_logits, context = self.depth_net(feats, params)
        if self.stereo is not None:
            depth_logits = depth_logits + self._stereo_logits(stereo_inputs, ego2img,
                                                              (height, width))
        depth = depth_logits.softmax(dim=1)

        with torch.no_grad():
            # Geometry depends on the cameras only; no gradient flows through the ranks.
            coords = self.frustum_points(ego2img.float(), height, width)
            ranks = voxel_pooling_prepare(coords, self.grid_min, self.voxel_size,
                                          self.grid_shape)
        # The pooling kernels take float32/float64 only (e.g. not AMP's float16).
        depth_5d = depth.float().reshape(batch, cams, self.num_bins, height, width)
        context_5d = context.float().reshape(batch, cams, -1, height, width)
        context_5d = context_5d.permute(0, 1, 3, 4, 2).contiguous()   # [B, N, h, w, C]
        volume = voxel_pooling(depth_5d, context_5d, *ranks, self.grid_shape)
        if self.prior_grid_shape == self.grid_shape and \
                self.prior_voxel_size == self.voxel_size and self.prior_upsample == 1:
            prior = voxel_pooling(depth_5d, None, *ranks, self.grid_shape)
        else:
            prior = self.geometric_prior(depth_5d, ego2img)
        # Channels-last [B, X, Y, Z, C] -> [B, C, X, Y, Z] for Conv3d consumers.
        return dict(volume=volume.permute(0, 4, 1, 2, 3).contiguous(),
                    prior=prior.permute(0, 4, 1, 2, 3).contiguous(),
                    depth=depth)

    def _stereo_logits(self, inputs, ego2img, out_size):
        """float [B * N, D, h, w] depth-logit terms of the temporal stereo cost."""
        if inputs is None:
            raise ValueError('LSSViewTransform: configured with stereo, needs stereo_inputs')
        current, past = inputs['current'], inputs['past']
        height, width = current.shape[-2:]
        with torch.no_grad():
            points = self.frustum_points(ego2img.float(), height, width, inputs['stride'])
        flat = lambda t: t.flatten(0, 1)  # noqa: E731
        return self.stereo(flat(current), flat(past), flat(points),
                           flat(inputs['past_ego2img']), inputs['img_shape'], out_size)

    def geometric_prior(self, depth, ego2img):
        """Depth probability mass per voxel of the prior grid.

        Args:
            depth (Tensor): float32 [B, N, D, h, w] depth probabilities (stride
                ``downsample``).
            ego2img (Tensor): float [B, N, 4, 4] of those cameras.

        Returns:
            Tensor: float32 [B, X_p, Y_p, Z_p, 1] (channels last, as voxel pooling returns).
        """
        up = self.prior_upsample
        batch, cams, bins, height, width = depth.shape
        if up > 1:
            depth = F.interpolate(depth.flatten(0, 1), scale_factor=up, mode='bilinear',
                                  align_corners=False) / up ** 2
            height, width = height * up, width * up
            depth = depth.reshape(batch, cams, bins, height, width)
        with torch.no_grad():
            coords = self.frustum_points(ego2img.float(), height, width, self.downsample // up)
            ranks = voxel_pooling_prepare(coords, self.grid_min, self.prior_voxel_size,
                                          self.prior_grid_shape)
        return voxel_pooling(depth, None, *ranks, self.prior_grid_shape)

    def loss(self, depth, gt_depth):
        """
        Args:
            depth (Tensor): float [B * N, D, h, w], ``forward``'s depth probabilities.
            gt_depth (Tensor): float [B, N, h, w], LiDAR depth in metres (0 = none).

        Returns:
            dict: ``loss_depth``, a scalar tensor.
        """
        return dict(loss_depth=self.loss_depth(depth, gt_depth))
