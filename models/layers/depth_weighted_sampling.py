"""Depth-weighted multi-view sampling, GD-OCC's geometry-driven block: multi-frame
multi-view sampling of 3D points (SparseOcc's ``sampling_4d``) whose current-frame samples
are weighted by the DepthNet's depth probability, shared by the implicit view transform, the
sparse voxel decoder and the mask head (one :class:`MultiviewImages` per forward).

Every 3D point (augmented current ego frame, metres) is projected into every view with
``ego2img`` (current ego -> augmented image pixels; past frames included, so ego motion is
already inside the matrices; views are frame-major, ``view = t * num_cams + camera``, frame
0 current). In each frame the point reads the first camera that sees it (in front of the
camera and inside the image) on every feature level, the levels mixed by per-point weights;
a frame in which no camera sees the point reads (nearly) zero, see "unseen points" below.
The frames are **not** averaged: each frame's sample is returned separately, for
AdaptiveMixing to mix.

Conventions (each a switch of :class:`MultiviewImages`, defaults SparseOcc's, whose
checkpoints were trained with them; ``tests/models/test_sparseocc_parity.py`` holds the
measured agreement; the implicit view transform samples the same features under its own,
:meth:`MultiviewImages.with_conventions`):

- pixels: ``ego2img`` produces pixel coordinates with pixel (i, j)'s centre at (u, v) = (i, j)
  (OpenCV intrinsics, the convention LSS's frustum uses too). SparseOcc normalises them as
  (u / W, v / H) and samples every level with ``align_corners=True`` (``align_corners``);
  the alternative is ((u + 0.5) / W, (v + 0.5) / H) with ``align_corners=False``, which
  puts pixel centres on feature-cell centres at every level. The two land up to 0.6
  feature pixels apart.
- visibility: SparseOcc's is strict, 0 < x < 1 and depth > 1e-5 m (``strict_visibility``,
  ``eps``); the alternative is closed, 0 <= x <= 1.
- unseen points: in a frame where no camera sees a point, SparseOcc still samples camera 0
  at its projection (it reads zero unless the point falls within a pixel of that image's
  border; ``unseen_reads_first_camera``); the alternative reads zero.
- level weights: SparseOcc lays the per-point level weights out as (B, G, T) while its
  features are (B, T, G), so frame t of group g uses the weights of group
  ``(t * G + g) // T`` (with 8 frames and 4 groups, pairs of frames share one group's
  weights; ``level_weight_layout='sparseocc'``); ``'per_group'`` gives every group its own.

Depth weights (GD-OCC's geometric cue): a sample in a view whose depth the DepthNet predicted
has its level weights multiplied by the predicted probability of its depth along that
camera's ray (:func:`lookup_depth_probability`). Depth is predicted for the **current frame
only**: LiDAR depth targets exist for the keyframe's images alone, and a DepthNet pass over
every past frame would multiply the explicit branch's cost by the number of frames for a
prediction no loss supervises. Past-frame samples therefore keep weight 1.

Precision: the op runs in float32 (or float64); features, points and weights of reduced
precision (AMP's float16 / bfloat16) are cast to float32 at this boundary, and the samples
come back as float32. Projections run in float32 with autocast off: in bfloat16 a pixel
coordinate near 700 would carry an error of about 2 pixels.
"""
import copy

import torch
import torch.nn.functional as F

from core.geometry import project_to_image

from ..ops.multiview_sampling import multiview_sampling, to_sampling_layout


def project_points(points, ego2img, img_shape, eps, align_corners=False,
                   strict_visibility=False):
    """Projects ego points into every view.

    Args:
        points (Tensor): float [B, N, 3] metres, current ego frame.
        ego2img (Tensor): float [B, V, 4, 4], current ego -> augmented image pixels.
        img_shape (tuple of 2 ints): (H, W) of the augmented image in pixels.
        eps (float): minimum camera depth (metres) of a visible point.
        align_corners (bool): normalise as (u / W, v / H) (SparseOcc) instead of
            ((u + 0.5) / W, (v + 0.5) / H) (module docstring).
        strict_visibility (bool): visible inside the open square 0 < x, y < 1 (SparseOcc)
            instead of the closed one.

    Returns:
        tuple(Tensor, Tensor, Tensor): normalised image coordinates [B, V, N, 2] ([0, 1]
        inside the image), visibility bool [B, V, N] and camera depth [B, V, N] (metres
        along the optical axis); float32, or float64 for float64 points.
    """
    dtype = torch.float64 if points.dtype == torch.float64 else torch.float32
    with torch.autocast(points.device.type, enabled=False):
        uv, depth = project_to_image(ego2img, points.to(dtype)[:, None], eps)
    height, width = img_shape
    uv = (uv if align_corners else uv + 0.5) / uv.new_tensor([width, height])
    if strict_visibility:
        inside = (uv > 0).all(-1) & (uv < 1).all(-1)
    else:
        inside = (uv >= 0).all(-1) & (uv <= 1).all(-1)
    return uv, (depth > eps) & inside, depth


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


def lookup_depth_probability(depth_probs, uv, depth, img_shape, depth_bins):
    """Predicted depth probability at given image positions and depths.

    Args:
        depth_probs (Tensor): float [M, D, h, w], softmax depth distributions of M images
            (e.g. LSS's ``depth`` [B * N, D, h, w]); the cells tile the augmented image, stride
            ``W / w`` (= ``H / h``).
        uv (Tensor): float [M, K, 2], normalised positions ``((u + 0.5) / W, (v + 0.5) /
            H)`` of K points in their image (``project_points``' convention).
        depth (Tensor): float [M, K], depth d of each point along the optical axis, metres.
        img_shape (tuple of 2 ints): (H, W) of the augmented image in pixels.
        depth_bins (sequence of 3 floats): (d_min, d_max, step), as in LSS.

    Returns:
        Tensor: [M, K], depth_probs' dtype: bilinear in (u, v) between cell centres, linear in
        d between bin centres, 0 where d is outside [d_min, d_max). Differentiable in
        ``depth_probs``, ``uv`` and ``depth``.
    """
    d_min, d_max, _ = (float(v) for v in depth_bins)
    # With align_corners=False, LSS cell j's centre, pixel j s + (s - 1) / 2, lands on
    # (j + 0.5) / w exactly when x = (u + 0.5) / W, which is what ``uv`` holds. Same for
    # depth: bin k's centre d_min + (k + 0.5) step lands on (k + 0.5) / D.
    z = (depth - d_min) / (d_max - d_min)
    grid = torch.cat([uv, z[..., None]], dim=-1).to(depth_probs.dtype) * 2 - 1  # [M, K, 3]
    # 'border' padding: points between the outermost centre and the image edge (or d_min /
    # the last bin centre) take the edge value rather than fading towards zero.
    sampled = F.grid_sample(depth_probs[:, None], grid[:, None, None], mode='bilinear',
                            padding_mode='border', align_corners=False)     # [M, 1, 1, 1, K]
    in_range = (depth >= d_min) & (depth < d_max)
    return sampled.reshape(depth.shape) * in_range.to(depth_probs.dtype)


def current_frame_depth_weight(uv, depth, camera, seen, depth_probs, img_shape, depth_bins):
    """Depth probability of each point along the ray of the current-frame camera it reads.

    Args:
        uv (Tensor): float [B, N, M, 2], the points' normalised positions in the N
            current-frame cameras (``project_points`` of views [0, N)).
        depth (Tensor): float [B, N, M], their camera depths in metres.
        camera (Tensor): int64 [B, M], the current-frame camera each point reads.
        seen (Tensor): bool [B, M], whether any current camera sees the point.
        depth_probs (Tensor): float [B * N, D, h, w], LSS depth probabilities.
        img_shape (tuple of 2 ints): (H, W) in pixels.
        depth_bins (sequence of 3 floats): (d_min, d_max, step).

    Returns:
        Tensor: float32 [B, M], 0 where no current camera sees the point (those samples
        read nothing anyway).
    """
    batch, num_cams, num = depth.shape
    # Every camera's map is read at every point and the chosen camera picked afterwards:
    # O(B N M), cheap next to the feature sampling, and no scatter by camera.
    probs = lookup_depth_probability(depth_probs.float(), uv.reshape(batch * num_cams, num, 2),
                                     depth.reshape(batch * num_cams, num), img_shape,
                                     depth_bins)
    probs = probs.view(batch, num_cams, num).gather(1, camera[:, None]).squeeze(1)
    return probs * seen.to(probs.dtype)


class MultiviewImages:
    """The image features of one forward pass, laid out once for every sampling call.

    Not a module (it holds no parameters): the detector builds one per forward and hands it
    to the implicit view transform, the decoder stages and the head, so each FPN level is
    converted to the op's layout once (:func:`to_sampling_layout`) however many times it is
    sampled.

    Args:
        mlvl_feats (list of Tensor): L levels, level l float [B, V, C, H_l, W_l], V = T *
            num_cams views frame-major (frame 0 current).
        ego2img (Tensor): float [B, V, 4, 4], augmented current ego -> image pixels.
        img_shape (tuple of 2 ints): (H, W) of the augmented images in pixels.
        num_cams (int): cameras per frame.
        num_groups (int): G channel groups; group g samples channels [g C / G, (g+1) C / G)
            at its own points.
        depth (Tensor, optional): float [B * num_cams, D, h, w], the current frame's LSS depth
            probabilities; needed for ``sample(..., depth_weighted=True)``.
        depth_bins (sequence of 3 floats, optional): (d_min, d_max, step) of ``depth``.
        eps (float): minimum camera depth (metres) of a visible point.
        align_corners (bool): SparseOcc's pixel convention (module docstring).
        strict_visibility (bool): SparseOcc's open visibility square.
        unseen_reads_first_camera (bool): a frame that does not see a point samples its
            camera 0 there (SparseOcc) instead of reading zero.
        level_weight_layout (str): ``'sparseocc'`` or ``'per_group'`` (module docstring).
        impl (str): the op's backend (``'auto'``, ``'cuda'``, ``'cpu'``, ``'reference'``).
    """

    def __init__(self, mlvl_feats, ego2img, img_shape, num_cams, num_groups, depth=None,
                 depth_bins=None, eps=1e-5, align_corners=True, strict_visibility=True,
                 unseen_reads_first_camera=True, level_weight_layout='sparseocc',
                 impl='auto'):
        batch, num_views = mlvl_feats[0].shape[:2]
        if num_views % num_cams or tuple(ego2img.shape[:2]) != (batch, num_views):
            raise ValueError(f'MultiviewImages: V = {num_views} views must be frames x '
                             f'{num_cams} cameras and match ego2img {tuple(ego2img.shape)}')
        if (depth is None) != (depth_bins is None):
            raise ValueError('MultiviewImages: depth and depth_bins go together')
        self.batch, self.num_views = batch, num_views
        self.num_cams, self.num_groups = int(num_cams), int(num_groups)
        self.num_frames = num_views // self.num_cams
        self.num_levels = len(mlvl_feats)
        self.channels = mlvl_feats[0].shape[2]
        self.feats = [to_sampling_layout(f.float().flatten(0, 1), num_views, self.num_groups)
                      for f in mlvl_feats]                            # [B G, V, H, W, C / G]
        self.ego2img = ego2img.float()
        self.img_shape = tuple(int(s) for s in img_shape)
        self.depth = depth
        self.depth_bins = depth_bins
        self.impl = impl
        self._set_conventions(eps, align_corners, strict_visibility, unseen_reads_first_camera,
                              level_weight_layout)

    def _set_conventions(self, eps, align_corners, strict_visibility,
                         unseen_reads_first_camera, level_weight_layout):
        if level_weight_layout not in ('sparseocc', 'per_group'):
            raise ValueError(f'MultiviewImages: level_weight_layout must be \'sparseocc\' or '
                             f'\'per_group\', got {level_weight_layout!r}')
        self.eps = eps
        self.align_corners, self.strict_visibility = bool(align_corners), bool(strict_visibility)
        self.unseen_reads_first_camera = bool(unseen_reads_first_camera)
        self.level_weight_layout = level_weight_layout

    def with_conventions(self, eps, align_corners, strict_visibility, unseen_reads_first_camera,
                         level_weight_layout):
        """The same features (converted once, shared, not copied) sampled under other
        conventions (the constructor's arguments of those names).

        Returns:
            MultiviewImages
        """
        other = copy.copy(self)
        other._set_conventions(eps, align_corners, strict_visibility,
                               unseen_reads_first_camera, level_weight_layout)
        return other

    def sample(self, points, level_weights, depth_weighted=False, return_seen=False):
        """Samples every frame at 3D points, per channel group.

        Args:
            points (Tensor): float [B, Q, G, P, 3] metres, current ego frame.
            level_weights (Tensor): float [B, Q, G, P, L], weight of each feature level.
            depth_weighted (bool): multiply the current frame's weights by the predicted
                depth probability at each point (needs ``depth``).
            return_seen (bool): also return which frames see each point.

        Returns:
            Tensor: float32 [B, Q, G, T * P, C / G], sample t * P + p = point p seen in
            frame t; (nearly) zero where frame t does not see the point. With
            ``return_seen``, a tuple of it and bool [B, Q, G, T * P], whether some camera of
            frame t sees point p.
        """
        batch, num_q, groups, per_group, _ = points.shape
        if batch != self.batch or groups != self.num_groups or \
                tuple(level_weights.shape) != (batch, num_q, groups, per_group, self.num_levels):
            raise ValueError(f'MultiviewImages.sample: points [B={self.batch}, Q, '
                             f'G={self.num_groups}, P, 3] and level_weights [B, Q, G, P, '
                             f'L={self.num_levels}] expected, got {tuple(points.shape)} and '
                             f'{tuple(level_weights.shape)}')
        if depth_weighted and self.depth is None:
            raise ValueError('MultiviewImages.sample: depth_weighted needs the LSS depth')
        frames, cams = self.num_frames, self.num_cams
        num = num_q * groups * per_group
        flat = points.float().reshape(batch, num, 3)
        uv, visible, depth = project_points(flat, self.ego2img, self.img_shape, self.eps,
                                            self.align_corners, self.strict_visibility)
        camera, seen = first_camera_per_frame(visible, cams)              # [B, T, M]
        view = camera + torch.arange(frames, device=camera.device)[:, None] * cams
        uv_chosen = uv.gather(1, view[..., None].expand(-1, -1, -1, 2))   # [B, T, M, 2]
        if not self.unseen_reads_first_camera:
            view = torch.where(seen, view, torch.full_like(view, -1))

        weights = self._frame_level_weights(level_weights.float())       # [B, T, M, L]
        if depth_weighted:
            # The depth map's cells are read in the pixel-centre convention.
            uv_centre = uv[:, :cams]
            if self.align_corners:
                height, width = self.img_shape
                uv_centre = uv_centre + 0.5 / uv.new_tensor([width, height])
            current = current_frame_depth_weight(uv_centre, depth[:, :cams], camera[:, 0],
                                                 seen[:, 0], self.depth, self.img_shape,
                                                 self.depth_bins)          # [B, M]
            frame_weight = torch.cat([current[:, None], current.new_ones(batch, frames - 1,
                                                                         num)], 1)
            weights = weights * frame_weight[..., None]

        # [B, T, (Q, G, P), ...] -> the op's [B * G, Q, T * P, ...] (batch-major groups).
        def to_op(x):
            x = x.reshape(batch, frames, num_q, groups, per_group, *x.shape[3:])
            x = x.permute(0, 3, 2, 1, 4, *range(5, x.dim()))
            return x.reshape(batch * groups, num_q, frames * per_group, *x.shape[5:])

        sampled = multiview_sampling(self.feats, to_op(uv_chosen).contiguous(),
                                     to_op(view).contiguous(), to_op(weights).contiguous(),
                                     impl=self.impl, align_corners=self.align_corners)
        sampled = sampled.view(batch, groups, num_q, frames * per_group, -1).transpose(1, 2)
        if not return_seen:
            return sampled
        seen = to_op(seen).view(batch, groups, num_q, frames * per_group).transpose(1, 2)
        return sampled, seen

    def _frame_level_weights(self, level_weights):
        """float [B, Q, G, P, L] -> [B, T, Q G P, L]: the level weights each frame uses
        (``level_weight_layout``, module docstring)."""
        batch, num_q, groups, per_group, levels = level_weights.shape
        frames = self.num_frames
        if self.level_weight_layout == 'sparseocc':
            # Frame t, group g reads entry t * G + g of a (G, T) layout: group (t G + g) // T.
            index = torch.arange(frames * groups, device=level_weights.device) // frames
            level_weights = level_weights[:, :, index].view(
                batch, num_q, frames, groups, per_group, levels).transpose(1, 2)
            return level_weights.reshape(batch, frames, num_q * groups * per_group, levels)
        return level_weights.reshape(batch, 1, -1, levels).expand(-1, frames, -1, -1)
