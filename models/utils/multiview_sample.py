"""Pure-PyTorch multi-scale multi-view bilinear sampling of 3D points (SparseOcc's sampling).

Every 3D point (current ego frame, metres) is projected into every view with ``ego2img``
(current ego -> augmented image pixels, past frames included, so ego motion is already in
the matrices). In each frame the point reads the first camera that sees it (in front of the
camera and inside the image); the feature pyramid levels are mixed with per-point weights, and
the frames in which the point is seen are averaged. Points seen in no frame read zero.

Pixel convention: ``ego2img`` produces pixel coordinates with pixel (i, j)'s centre at
(u, v) = (i, j) (OpenCV intrinsics, the convention LSS's frustum uses too), so the image
spans [-0.5, W - 0.5] x [-0.5, H - 0.5]; sampling is ``grid_sample(align_corners=False,
padding_mode='zeros')`` of ((u + 0.5) / W, (v + 0.5) / H), which puts pixel centres at
((i + 0.5) / W, (j + 0.5) / H), the convention of the compiled ``multiview_sampling`` op
(``models/ops/multiview_sampling.py``).

Two registered samplers with the same ``forward`` and the same result:

- :class:`MultiviewBilinearSampler`, pure PyTorch: samples every view for every point and
  then picks the chosen camera, so memory is O(B * V * C * Q * P) per level; fine for tests
  and the toy data set;
- :class:`CompiledMultiviewSampler`, the production path: one ``multiview_sampling`` call
  reads only the chosen view of each point and frame (points [B, Q * P, T, 2] with a view
  index), O(B * C * Q * P * T).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmdet3d.registry import MODELS

from ..ops.multiview_sampling import multiview_sampling, to_sampling_layout


def project_points(points, ego2img, img_shape, eps):
    """Projects ego points into every view.

    Args:
        points (Tensor): float [B, N, 3] metres, current ego frame.
        ego2img (Tensor): float [B, V, 4, 4], current ego -> augmented image pixels.
        img_shape (tuple of 2 ints): (H, W) of the augmented image in pixels.
        eps (float): minimum camera depth (metres) of a visible point.

    Returns:
        tuple(Tensor, Tensor): normalised image coordinates float [B, V, N, 2]
        (x = (u + 0.5) / W, y = (v + 0.5) / H, [0, 1] inside; see the module docstring) and
        visibility bool [B, V, N].
    """
    homo = torch.cat([points, torch.ones_like(points[..., :1])], -1)
    cam = torch.einsum('bvij,bnj->bvni', ego2img.to(points.dtype), homo)
    depth = cam[..., 2]
    height, width = img_shape
    uv = cam[..., :2] / depth.clamp_min(eps)[..., None]
    uv = (uv + 0.5) / uv.new_tensor([width, height])
    visible = (depth > eps) & (uv >= 0).all(-1) & (uv <= 1).all(-1)
    return uv, visible


def first_camera_per_frame(visible, num_cams):
    """The camera each point reads in each frame.

    Args:
        visible (Tensor): bool [B, V, M] (``project_points``), V = T * num_cams frame-major.
        num_cams (int): cameras per frame.

    Returns:
        tuple(Tensor, Tensor): ``camera`` int64 [B, T, M], the first camera of the frame
        that sees the point (0 if none), and ``seen`` bool [B, T, M].
    """
    batch, num_views, num = visible.shape
    visible = visible.view(batch, num_views // num_cams, num_cams, num)
    # argmax returns the first True.
    return visible.to(torch.uint8).argmax(2), visible.any(2)


def _check_sampler_inputs(name, num_cams, mlvl_feats, points, ego2img, level_weights):
    batch, queries, per_query, _ = points.shape
    num_views = mlvl_feats[0].shape[1]
    if num_views % num_cams or ego2img.shape[:2] != (batch, num_views):
        raise ValueError(f'{name}: V = {num_views} views must be frames x {num_cams} cameras '
                         f'and match ego2img {tuple(ego2img.shape)}')
    if level_weights.shape != (batch, queries, per_query, len(mlvl_feats)):
        raise ValueError(f'{name}: level_weights must be '
                         f'{(batch, queries, per_query, len(mlvl_feats))}, got '
                         f'{tuple(level_weights.shape)}')


@MODELS.register_module()
class MultiviewBilinearSampler(nn.Module):
    """Bilinear multi-view, multi-level sampling of 3D points (see the module docstring).

    Args:
        num_cams (int): cameras per frame (6 for nuScenes); views are frame-major,
            view = t * num_cams + camera, as in ``inputs['img']`` [B, T * 6, 3, H, W].
        eps (float): minimum camera depth in metres for a point to count as seen.
    """

    def __init__(self, num_cams, eps=1e-2):
        super().__init__()
        self.num_cams = num_cams
        self.eps = eps

    def forward(self, mlvl_feats, points, ego2img, img_shape, level_weights):
        """
        Args:
            mlvl_feats (list of Tensor): L levels, level l float [B, V, C, H_l, W_l].
            points (Tensor): float [B, Q, P, 3] sample points, metres, current ego frame.
            ego2img (Tensor): float [B, V, 4, 4], current ego -> augmented image pixels.
            img_shape (tuple of 2 ints): (H, W) of the augmented images in pixels.
            level_weights (Tensor): float [B, Q, P, L] weight of each level per point.

        Returns:
            Tensor: float [B, Q, P, C], mean over the frames that see the point of the
            level-weighted bilinear samples of the first camera that sees it.
        """
        _check_sampler_inputs('MultiviewBilinearSampler', self.num_cams, mlvl_feats, points,
                              ego2img, level_weights)
        batch, queries, per_query, _ = points.shape
        num_views = mlvl_feats[0].shape[1]
        frames = num_views // self.num_cams
        num = queries * per_query
        uv, visible = project_points(points.reshape(batch, num, 3), ego2img, img_shape,
                                     self.eps)
        camera, seen = first_camera_per_frame(visible, self.num_cams)
        grid = (uv * 2 - 1).reshape(batch * num_views, 1, num, 2)
        weights = level_weights.reshape(batch, 1, 1, num, -1)
        mixed = 0
        for level, feats in enumerate(mlvl_feats):
            channels = feats.shape[2]
            sampled = F.grid_sample(feats.reshape(batch * num_views, channels,
                                                  *feats.shape[-2:]).to(points.dtype),
                                    grid, mode='bilinear', padding_mode='zeros',
                                    align_corners=False)                 # [BV, C, 1, N]
            sampled = sampled.view(batch, frames, self.num_cams, channels, num)
            chosen = sampled.gather(2, camera[:, :, None, None].expand(
                -1, -1, 1, channels, -1)).squeeze(2)                     # [B, T, C, N]
            mixed = mixed + chosen * weights[..., level]
        seen = seen[:, :, None].to(points.dtype)
        out = (mixed * seen).sum(1) / seen.sum(1).clamp_min(1)           # [B, C, N]
        return out.transpose(1, 2).reshape(batch, queries, per_query, -1)


@MODELS.register_module()
class CompiledMultiviewSampler(nn.Module):
    """:class:`MultiviewBilinearSampler` on the compiled ``multiview_sampling`` op (same
    arguments, ``forward`` and result; see the module docstring).

    The op works in float32/float64: half-precision (AMP) features are sampled in float32.

    Args:
        num_cams (int): cameras per frame; views are frame-major, view = t * num_cams + cam.
        eps (float): minimum camera depth in metres for a point to count as seen.
        impl (str): the op's backend, ``'auto'`` (compiled CUDA -> compiled CPU ->
            reference), ``'cuda'``, ``'cpu'`` or ``'reference'``.
    """

    def __init__(self, num_cams, eps=1e-2, impl='auto'):
        super().__init__()
        self.num_cams = num_cams
        self.eps = eps
        self.impl = impl

    def forward(self, mlvl_feats, points, ego2img, img_shape, level_weights):
        """Same as :meth:`MultiviewBilinearSampler.forward`: float [B, Q, P, C]."""
        _check_sampler_inputs('CompiledMultiviewSampler', self.num_cams, mlvl_feats, points,
                              ego2img, level_weights)
        batch, queries, per_query, _ = points.shape
        num_views = mlvl_feats[0].shape[1]
        frames = num_views // self.num_cams
        num = queries * per_query
        dtype = torch.float64 if points.dtype == torch.float64 else torch.float32
        uv, visible = project_points(points.reshape(batch, num, 3).to(dtype), ego2img,
                                     img_shape, self.eps)                # [B, V, M, 2]
        camera, seen = first_camera_per_frame(visible, self.num_cams)    # [B, T, M]
        view = camera + torch.arange(frames, device=camera.device)[:, None] * self.num_cams
        uv = uv.gather(1, view[..., None].expand(-1, -1, -1, 2))         # [B, T, M, 2]
        view = torch.where(seen, view, torch.full_like(view, -1))
        # The op's sample axes: [B (one group), M, T].
        weights = level_weights.reshape(batch, num, 1, -1).to(dtype).expand(-1, -1, frames, -1)
        feats = [to_sampling_layout(f.to(dtype).flatten(0, 1), num_views) for f in mlvl_feats]
        sampled = multiview_sampling(feats, uv.transpose(1, 2).contiguous(),
                                     view.transpose(1, 2).contiguous(), weights.contiguous(),
                                     impl=self.impl)                     # [B, M, T, C]
        seen = seen.transpose(1, 2)[..., None].to(dtype)                 # [B, M, T, 1]
        out = sampled.sum(2) / seen.sum(2).clamp_min(1)                  # unseen read zero
        return out.view(batch, queries, per_query, -1).to(points.dtype)
