"""Multi-scale multi-view bilinear sampling (SparseOcc's ``sampling_4d`` / deformable attention).

Every sample point reads one view (a camera of one frame) at one normalised image position on
every level of a feature pyramid, and mixes the levels with its own weights:

    out[bg, q, p, :] = sum_l level_weights[bg, q, p, l] * bilinear(features[l][bg, view], point)

with ``view = view_index[bg, q, p]`` and ``point = points_2d[bg, q, p]``. ``bg`` runs over
batch x groups: channel groups of the features sample independently (each group has its own
points), as in deformable attention.

Conventions, those of ``grid_sample(padding_mode='zeros')``: a point (x, y) in [0, 1]^2 covers
the whole image, x along columns (width) and y along rows (height); bilinear corners outside
the image read zero. With ``align_corners=False`` pixel (i, j) of a W x H map has its centre
at ((i + 0.5) / W, (j + 0.5) / H); with ``align_corners=True`` (SparseOcc's convention: a
pixel u of the image maps to u / W_image, and every level is read with
``grid_sample(align_corners=True)``) at (i / (W - 1), j / (H - 1)). A negative view index
means the point sees no view: it reads zero (and passes no gradient).

Layout: feature levels are channels last, ``[BG, V, H_l, W_l, C]``, so one bilinear tap reads
C contiguous values (vectorised on the CPU, coalesced on the GPU). A model converts each FPN
level once per forward with :func:`to_sampling_layout` and samples it many times.

Reduced precision: the kernels run in float32 or float64 only and refuse float16 / bfloat16
with a ValueError rather than casting silently. Under AMP the callers cast at the op
boundary (``models/layers/depth_weighted_sampling.py`` projects in float32 with autocast off and
casts the features with ``.float()``), so the bilinear weights, which multiply pixel
positions of up to ~700, keep their 24-bit mantissa; gradients flow back through the cast.
"""
import math

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from .backend import choose_impl

MAX_LEVELS = 8  # the kernels' bound (models/csrc/multiview_sampling.h)


def to_sampling_layout(feature, num_views, num_groups=1):
    """Rearranges one FPN level into the layout of :func:`multiview_sampling`.

    Args:
        feature (Tensor): [B * V, C, H, W], the views of each sample consecutive (V views =
            cameras x frames in the caller's order, which ``view_index`` refers to).
        num_views (int): V.
        num_groups (int): G, channel groups; group g takes channels [g * C / G, (g+1) * C / G).

    Returns:
        Tensor: [B * G, V, H, W, C / G], contiguous; batch-major (index b * G + g).
    """
    if feature.dim() != 4 or feature.shape[0] % num_views or feature.shape[1] % num_groups:
        raise ValueError(f'to_sampling_layout: feature must be [B * V, C, H, W] with V = '
                         f'{num_views} dividing B * V and G = {num_groups} dividing C, got '
                         f'{tuple(feature.shape)}')
    bv, channels, height, width = feature.shape
    batch = bv // num_views
    grouped = feature.view(batch, num_views, num_groups, channels // num_groups, height, width)
    return grouped.permute(0, 2, 1, 4, 5, 3).reshape(batch * num_groups, num_views, height,
                                                     width, channels // num_groups)


def multiview_sampling(features, points_2d, view_index, level_weights, impl='auto',
                       align_corners=False):
    """Samples every point bilinearly in its view on every level and mixes the levels.

    Differentiable in ``features``, ``points_2d`` and ``level_weights``.

    Args:
        features (sequence of Tensor): L (1 to 8) float32/float64 levels, level l
            [BG, V, H_l, W_l, C] channels last (see :func:`to_sampling_layout`); all with the
            same BG, V, C, dtype and device.
        points_2d (Tensor): [BG, Q, P, 2] normalised image coordinates (x = column, y = row,
            [0, 1] inside the image; see the module docstring), the features' dtype. Any
            number of sample axes may stand in for Q, P.
        view_index (Tensor): integer [BG, Q, P], the view in [0, V) each point reads, or
            negative for none.
        level_weights (Tensor): [BG, Q, P, L], the features' dtype: weight of each level
            (e.g. softmax scale weights times a depth-probability weight).
        impl (str): ``'auto'`` (compiled CUDA -> compiled CPU -> reference), ``'cuda'``,
            ``'cpu'`` or ``'reference'``.
        align_corners (bool): the pixel convention of ``points_2d`` (module docstring).

    Returns:
        Tensor: [BG, Q, P, C], the features' dtype and device.

    Gradients are reproducible run to run on the CPU; the CUDA backward accumulates feature
    gradients with atomic adds, so there they may differ in the last bits between runs.
    """
    features, points, views, weights, sample_shape = _check_inputs(features, points_2d,
                                                                   view_index, level_weights)
    chosen = choose_impl('multiview_sampling_forward', points.device, impl)
    if chosen == 'reference':
        out = _sampling_reference(features, points, views, weights, align_corners)
    else:
        device = points.device
        if chosen == 'cpu' and device.type != 'cpu':
            features = [f.cpu() for f in features]
            points, views, weights = points.cpu(), views.cpu(), weights.cpu()
        out = _MultiviewSampling.apply(points, views, weights, bool(align_corners),
                                       *features).to(device)
    return out.view(*sample_shape, out.shape[-1])


def multiview_sampling_reference(features, points_2d, view_index, level_weights,
                                 align_corners=False):
    """Pure-PyTorch :func:`multiview_sampling` (same arguments and result), built on
    ``torch.nn.functional.grid_sample``; for tests and fallback."""
    return multiview_sampling(features, points_2d, view_index, level_weights, impl='reference',
                              align_corners=align_corners)


class _MultiviewSampling(torch.autograd.Function):
    """The compiled kernels on flattened samples: points [BG, N, 2], views [BG, N],
    weights [BG, N, L]."""

    @staticmethod
    def forward(ctx, points, views, weights, align_corners, *features):
        ctx.save_for_backward(points, views, weights, *features)
        ctx.align_corners = align_corners
        return torch.ops.gdocc.multiview_sampling_forward(list(features), points, views, weights,
                                                          align_corners)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        points, views, weights, *features = ctx.saved_tensors
        need_points, _, need_weights, *need_features = ctx.needs_input_grad
        need_features = need_features[1:]  # the first is align_corners'
        grad_features, grad_points, grad_weights = torch.ops.gdocc.multiview_sampling_backward(
            grad_out, features, points, views, weights, ctx.align_corners, any(need_features),
            need_points, need_weights)
        return (grad_points if need_points else None, None,
                grad_weights if need_weights else None, None,
                *(g if need else None for g, need in zip(grad_features, need_features)))


def _sampling_reference(features, points, views, weights, align_corners):
    """grid_sample per level, with the views folded into grid_sample's batch: the samples are
    grouped by the image (batch-group, view) they read and padded to the largest group."""
    bg, per_batch = views.shape
    num_views, channels = features[0].shape[1], features[0].shape[-1]
    flat_views = views.reshape(-1)
    samples = (flat_views >= 0).nonzero().squeeze(1)
    image = samples // per_batch * num_views + flat_views[samples]
    image, order = torch.sort(image, stable=True)
    samples = samples[order]
    counts = torch.bincount(image, minlength=bg * num_views)
    slot = torch.arange(samples.numel(), device=points.device) - \
        (torch.cumsum(counts, 0) - counts)[image]
    slots = max(int(counts.max()), 1)
    grid_values = points.reshape(-1, 2)[samples] * 2 - 1  # grid_sample spans [-1, 1]
    grid = points.new_zeros(bg * num_views, 1, slots, 2).index_put(
        (image, torch.zeros_like(image), slot), grid_values)
    flat_weights = weights.reshape(bg * per_batch, -1)[samples]
    mixed = 0
    for level, feature in enumerate(features):
        height, width = feature.shape[2:4]
        images = feature.reshape(bg * num_views, height, width, channels).permute(0, 3, 1, 2)
        sampled = F.grid_sample(images, grid, mode='bilinear', padding_mode='zeros',
                                align_corners=align_corners)  # [BG * V, C, 1, slots]
        mixed = mixed + sampled[image, :, 0, slot] * flat_weights[:, level:level + 1]
    out = points.new_zeros(bg * per_batch, channels).index_put((samples,), mixed)
    return out.view(bg, per_batch, channels)


def _check_inputs(features, points_2d, view_index, level_weights):
    """Validates the arguments; returns them flattened to [BG, N, ...] plus the output's
    leading shape [BG, Q, P]."""
    features = list(features) if isinstance(features, (list, tuple)) else None
    if not features or len(features) > MAX_LEVELS or \
            not all(isinstance(f, torch.Tensor) for f in features):
        raise ValueError(f'multiview_sampling: features must be a list of 1 to {MAX_LEVELS} '
                         'tensors [BG, V, H_l, W_l, C]')
    first = features[0]
    if first.dtype not in (torch.float32, torch.float64):
        raise ValueError(f'multiview_sampling: features must be float32/float64, got '
                         f'{first.dtype}')
    for level, feature in enumerate(features):
        if feature.dim() != 5 or feature.shape[:2] != first.shape[:2] or \
                feature.shape[4] != first.shape[4] or min(feature.shape[2:4]) <= 0:
            raise ValueError(f'multiview_sampling: level {level} must be [BG, V, H_l, W_l, C] '
                             f'with the BG, V, C of level 0 {tuple(first.shape)}, got '
                             f'{tuple(feature.shape)}')
        if feature.dtype != first.dtype or feature.device != first.device:
            raise ValueError('multiview_sampling: all levels must share dtype and device')
    bg, num_views = first.shape[:2]
    num_levels = len(features)
    if points_2d.dim() < 2 or points_2d.shape[0] != bg or points_2d.shape[-1] != 2:
        raise ValueError(f'multiview_sampling: points_2d must be [BG={bg}, Q, P, 2], got '
                         f'{tuple(points_2d.shape)}')
    sample_shape = points_2d.shape[:-1]
    if view_index.shape != sample_shape or view_index.dtype.is_floating_point or \
            view_index.dtype.is_complex or view_index.dtype == torch.bool:
        raise ValueError(f'multiview_sampling: view_index must be an integer tensor '
                         f'{tuple(sample_shape)}, got {view_index.dtype} '
                         f'{tuple(view_index.shape)}')
    if level_weights.shape != (*sample_shape, num_levels):
        raise ValueError(f'multiview_sampling: level_weights must be '
                         f'{(*sample_shape, num_levels)} (one weight per level), got '
                         f'{tuple(level_weights.shape)}')
    for name, tensor in (('points_2d', points_2d), ('level_weights', level_weights)):
        if tensor.dtype != first.dtype:
            raise ValueError(f'multiview_sampling: {name} must have the features\' dtype '
                             f'{first.dtype}, got {tensor.dtype}')
    for name, tensor in (('points_2d', points_2d), ('view_index', view_index),
                         ('level_weights', level_weights)):
        if tensor.device != first.device:
            raise ValueError(f'multiview_sampling: {name} is on {tensor.device}, the features '
                             f'on {first.device}')
    if view_index.numel() and bool(view_index.max() >= num_views):
        raise ValueError(f'multiview_sampling: view_index must be < V = {num_views} '
                         '(negative: no view)')
    per_batch = math.prod(sample_shape[1:])
    return (features, points_2d.reshape(bg, per_batch, 2),
            view_index.reshape(bg, per_batch).long(),
            level_weights.reshape(bg, per_batch, num_levels), sample_shape)
