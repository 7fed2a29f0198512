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
(``models/ops/multiview_sampling.py``), which can replace this module by registering a
sampler with the same ``forward``: it takes one view per point and frame, i.e. points
[B, Q, P * T, 2] with a view index.

Cost: this fallback samples every view for every point and then picks the chosen camera,
so memory is O(B * V * C * Q * P) per level; fine for tests and the toy data set, the
compiled op is the production path.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmdet3d.registry import MODELS


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
        batch, queries, per_query, _ = points.shape
        num_views = mlvl_feats[0].shape[1]
        if num_views % self.num_cams or ego2img.shape[:2] != (batch, num_views):
            raise ValueError(f'MultiviewBilinearSampler: V = {num_views} views must be frames '
                             f'x {self.num_cams} cameras and match ego2img '
                             f'{tuple(ego2img.shape)}')
        if level_weights.shape != (batch, queries, per_query, len(mlvl_feats)):
            raise ValueError(f'MultiviewBilinearSampler: level_weights must be '
                             f'{(batch, queries, per_query, len(mlvl_feats))}, got '
                             f'{tuple(level_weights.shape)}')
        frames = num_views // self.num_cams
        num = queries * per_query
        uv, visible = project_points(points.reshape(batch, num, 3), ego2img, img_shape,
                                     self.eps)
        visible = visible.view(batch, frames, self.num_cams, num)
        # First camera of each frame that sees the point (argmax returns the first True).
        camera = visible.to(torch.uint8).argmax(2)                       # [B, T, N]
        seen = visible.any(2)                                            # [B, T, N]
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
