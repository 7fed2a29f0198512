"""Voxel pooling: LSS splatting of depth x context features into a 3D voxel volume.

The BEVPoolv2 design extended to a 3D grid. Every frustum point -- camera ``n``, depth bin
``d``, feature pixel ``(h, w)`` of sample ``b`` -- carries a depth probability
``depth[b, n, d, h, w]`` and reads the context row ``context[b, n, h, w, :]``; it falls into
one voxel of an ``[X, Y, Z]`` grid (or outside it). The output is, for every voxel ``v``,

    out[b, x, y, z, :] = sum over points p in v of depth[p] * context[p, :]

Geometry (which point lands in which voxel) depends on the camera parameters only, so
:func:`voxel_pooling_prepare` computes it once per batch as flat *ranks*, sorted by voxel,
and *intervals*, the runs of points sharing a voxel; the kernels then pool each interval
without atomics. Layout: the output is channels last, ``[B, X, Y, Z, C]``, indexed like the
Occ3D grid (x, y, z); a ``Conv3d`` wants ``out.permute(0, 4, 1, 2, 3)`` (``[B, C, X, Y, Z]``).

Depth-only pooling (GD-OCC's geometric prior, the depth probability mass per voxel): pass
``context=None``; the result is ``[B, X, Y, Z, 1]`` and only ``depth`` receives gradients.

Reduced precision: float32 or float64 only; float16 / bfloat16 inputs raise a ValueError.
Under AMP the caller (``models/view_transforms/lss.py``) casts depth and context to float32
at the op boundary: a voxel sums up to thousands of points, which half precision would
round away.
"""
from collections import namedtuple

import torch
from torch.autograd.function import once_differentiable

from core.geometry import voxel_of

from .backend import choose_impl

VoxelPoolingRanks = namedtuple(
    'VoxelPoolingRanks',
    ['ranks_depth', 'ranks_feat', 'ranks_voxel', 'interval_starts', 'interval_lengths'])
VoxelPoolingRanks.__doc__ = """Point geometry for :func:`voxel_pooling`, all int64 on one device.

Fields:
    ranks_depth [P]: flat index of each kept point into ``depth`` [B, N, D, H, W].
    ranks_feat [P]: flat index of its context row, ``((b * N + n) * H + h) * W + w``.
    ranks_voxel [P]: flat index of its voxel, ``((b * X + x) * Y + y) * Z + z``; sorted.
    interval_starts [K]: first point of each run of equal ``ranks_voxel`` (one per
        non-empty voxel), increasing.
    interval_lengths [K]: number of points in each run.
"""


def voxel_pooling_prepare(coords, grid_min, voxel_size, grid_shape):
    """Turns frustum point coordinates into the ranks and intervals of :func:`voxel_pooling`.

    Points are kept when their voxel lies inside the grid; voxel (i, j, k) spans
    ``grid_min + voxel_size * ([i, i+1) x [j, j+1) x [k, k+1))``. Points that share a voxel
    keep their frustum order (a stable sort), so pooling is deterministic.

    Args:
        coords (Tensor): float [B, N, D, H, W, 3], each frustum point's (x, y, z) in metres in
            the grid's frame (the ego frame for Occ3D).
        grid_min (sequence of 3 floats): metres of the grid's lowest corner, e.g.
            (-40, -40, -1) for Occ3D.
        voxel_size (float or sequence of 3 floats): voxel edge(s) in metres, e.g. 0.4.
        grid_shape (sequence of 3 ints): (X, Y, Z), e.g. (200, 200, 16).

    Returns:
        VoxelPoolingRanks: int64 tensors on ``coords.device``.
    """
    if coords.dim() != 6 or coords.shape[-1] != 3:
        raise ValueError('voxel_pooling_prepare: coords must be [B, N, D, H, W, 3], got '
                         f'{tuple(coords.shape)}')
    grid_shape = _grid_shape(grid_shape, 'voxel_pooling_prepare')
    batch, cams, depth_bins, height, width = coords.shape[:5]
    device = coords.device
    grid_min = torch.as_tensor(grid_min, dtype=coords.dtype, device=device).expand(3)
    voxel_size = torch.as_tensor(voxel_size, dtype=coords.dtype, device=device).expand(3)
    if not bool((voxel_size > 0).all()):
        raise ValueError('voxel_pooling_prepare: voxel_size must be positive')
    shape = torch.tensor(grid_shape, device=device)

    voxel = voxel_of(coords.reshape(-1, 3), grid_min, voxel_size)
    inside = ((voxel >= 0) & (voxel < shape)).all(dim=1)
    ranks_depth = inside.nonzero().squeeze(1)
    voxel = voxel[ranks_depth].long()
    pixel = ranks_depth % (height * width)
    camera = ranks_depth // (depth_bins * height * width)  # b * N + n
    sample = camera // cams
    ranks_feat = camera * (height * width) + pixel
    ranks_voxel = ((sample * grid_shape[0] + voxel[:, 0]) * grid_shape[1]
                   + voxel[:, 1]) * grid_shape[2] + voxel[:, 2]

    ranks_voxel, order = torch.sort(ranks_voxel, stable=True)
    ranks_depth, ranks_feat = ranks_depth[order], ranks_feat[order]
    _, lengths = torch.unique_consecutive(ranks_voxel, return_counts=True)
    starts = torch.cumsum(lengths, 0) - lengths
    return VoxelPoolingRanks(ranks_depth, ranks_feat, ranks_voxel, starts, lengths)


def voxel_pooling(depth, context, ranks_depth, ranks_feat, ranks_voxel, interval_starts,
                  interval_lengths, grid_shape, impl='auto'):
    """Splats ``depth x context`` into a voxel volume (differentiable in depth and context).

    Args:
        depth (Tensor): float32/float64 [B, N, D, H, W], per-camera categorical depth
            probabilities of every feature pixel (N cameras, D depth bins).
        context (Tensor or None): [B, N, H, W, C] context features, depth's dtype and device;
            ``None`` pools the depth probabilities alone (as if C = 1 and context were ones).
        ranks_depth, ranks_feat, ranks_voxel, interval_starts, interval_lengths (Tensor):
            the point geometry of :class:`VoxelPoolingRanks`, as made by
            :func:`voxel_pooling_prepare` (any integer dtype, depth's device):
            ``voxel_pooling(depth, context, *voxel_pooling_prepare(...), grid_shape)``.
        grid_shape (sequence of 3 ints): (X, Y, Z).
        impl (str): ``'auto'`` (compiled CUDA -> compiled CPU -> reference), ``'cuda'``,
            ``'cpu'`` or ``'reference'``.

    Returns:
        Tensor: [B, X, Y, Z, C] (C = 1 when ``context`` is None), depth's dtype and device;
        ``out[b, x, y, z]`` sums ``depth * context`` over the points in voxel (x, y, z) of
        sample b; voxels without points are zero.

    The point geometry is validated (bounds, sorting, intervals) before the kernels, which
    trust it, run. Gradients: reproducible run to run on the CPU (for a fixed thread count)
    and on CUDA (for geometry from :func:`voxel_pooling_prepare`).
    """
    grid_shape = _grid_shape(grid_shape, 'voxel_pooling')
    context = _check_features(depth, context)
    ranks = _check_ranks(depth, grid_shape, ranks_depth, ranks_feat, ranks_voxel,
                         interval_starts, interval_lengths)
    batch, channels = depth.shape[0], context.shape[-1]
    num_voxels = batch * grid_shape[0] * grid_shape[1] * grid_shape[2]
    chosen = choose_impl('voxel_pooling_forward', depth.device, impl)
    rows = context.reshape(-1, channels)
    if chosen == 'reference':
        out = _pool_reference(depth, rows, *ranks[:3], num_voxels)
    else:
        device = depth.device
        if chosen == 'cpu' and device.type != 'cpu':
            depth, rows, ranks = depth.cpu(), rows.cpu(), [r.cpu() for r in ranks]
        out = _VoxelPooling.apply(depth, rows, *ranks, num_voxels).to(device)
    return out.view(batch, *grid_shape, channels)


def voxel_pooling_reference(depth, context, ranks_depth, ranks_feat, ranks_voxel,
                            interval_starts, interval_lengths, grid_shape):
    """Pure-PyTorch :func:`voxel_pooling` (same arguments and result), for tests and fallback."""
    return voxel_pooling(depth, context, ranks_depth, ranks_feat, ranks_voxel, interval_starts,
                         interval_lengths, grid_shape, impl='reference')


class _VoxelPooling(torch.autograd.Function):
    """The compiled kernels; ``rows`` is the context as [B * N * H * W, C]."""

    @staticmethod
    def forward(ctx, depth, rows, ranks_depth, ranks_feat, ranks_voxel, interval_starts,
                interval_lengths, num_voxels):
        ctx.save_for_backward(depth, rows, ranks_depth, ranks_feat, ranks_voxel)
        return torch.ops.gdocc.voxel_pooling_forward(depth, rows, ranks_depth, ranks_feat,
                                                     ranks_voxel, interval_starts,
                                                     interval_lengths, num_voxels)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        need_depth, need_rows = ctx.needs_input_grad[:2]
        grad_depth, grad_rows = torch.ops.gdocc.voxel_pooling_backward(
            grad_out, *ctx.saved_tensors, need_depth, need_rows)
        return (grad_depth if need_depth else None, grad_rows if need_rows else None,
                None, None, None, None, None, None)


def _pool_reference(depth, rows, ranks_depth, ranks_feat, ranks_voxel, num_voxels):
    values = depth.reshape(-1)[ranks_depth].unsqueeze(1) * rows[ranks_feat]
    return values.new_zeros(num_voxels, rows.shape[1]).index_add(0, ranks_voxel, values)


def _grid_shape(grid_shape, name):
    shape = tuple(int(s) for s in grid_shape)
    if len(shape) != 3 or min(shape) <= 0:
        raise ValueError(f'{name}: grid_shape must be 3 positive ints (X, Y, Z), got '
                         f'{grid_shape!r}')
    return shape


def _check_features(depth, context):
    if depth.dim() != 5 or depth.dtype not in (torch.float32, torch.float64):
        raise ValueError('voxel_pooling: depth must be a float32/float64 [B, N, D, H, W] '
                         f'tensor, got {depth.dtype} {tuple(depth.shape)}')
    batch, cams, _, height, width = depth.shape
    if context is None:
        return depth.new_ones(1, 1, 1, 1, 1).expand(batch, cams, height, width, 1)
    if context.dim() != 5 or tuple(context.shape[:4]) != (batch, cams, height, width):
        raise ValueError(f'voxel_pooling: context must be [B, N, H, W, C] = '
                         f'[{batch}, {cams}, {height}, {width}, C] to match depth, got '
                         f'{tuple(context.shape)}')
    if context.dtype != depth.dtype or context.device != depth.device:
        raise ValueError('voxel_pooling: context must share depth\'s dtype and device, got '
                         f'{context.dtype} on {context.device} and {depth.dtype} on '
                         f'{depth.device}')
    return context


def _check_ranks(depth, grid_shape, *ranks):
    """Validates the point geometry (the kernels trust it) and returns it as int64."""
    names = VoxelPoolingRanks._fields
    for name, rank in zip(names, ranks):
        if not isinstance(rank, torch.Tensor) or rank.dim() != 1 or \
                rank.dtype.is_floating_point or rank.dtype.is_complex or rank.dtype == torch.bool:
            raise ValueError(f'voxel_pooling: {name} must be a 1-D integer tensor')
        if rank.device != depth.device:
            raise ValueError(f'voxel_pooling: {name} is on {rank.device}, depth on '
                             f'{depth.device}')
    ranks_depth, ranks_feat, ranks_voxel, starts, lengths = (r.long() for r in ranks)
    num_points = ranks_depth.numel()
    if ranks_feat.numel() != num_points or ranks_voxel.numel() != num_points:
        raise ValueError('voxel_pooling: ranks_depth, ranks_feat and ranks_voxel must have one '
                         f'length, got {num_points}, {ranks_feat.numel()}, {ranks_voxel.numel()}')
    if starts.numel() != lengths.numel():
        raise ValueError('voxel_pooling: interval_starts and interval_lengths must have one '
                         f'length, got {starts.numel()} and {lengths.numel()}')
    num_voxels = depth.shape[0] * grid_shape[0] * grid_shape[1] * grid_shape[2]
    num_rows = depth.shape[0] * depth.shape[1] * depth.shape[3] * depth.shape[4]
    problem = None
    if num_points == 0:
        if starts.numel():
            problem = 'intervals given for no points'
    elif starts.numel() == 0:
        problem = 'no intervals given for the points'
    else:
        bounds = [(ranks_depth, depth.numel(), 'ranks_depth'),
                  (ranks_feat, num_rows, 'ranks_feat'),
                  (ranks_voxel, num_voxels, 'ranks_voxel')]
        for rank, limit, name in bounds:
            low, high = torch.aminmax(rank)
            if bool(low < 0) or bool(high >= limit):
                problem = f'{name} must lie in [0, {limit})'
                break
        else:
            ends = starts + lengths
            if num_points > 1 and bool(ranks_voxel.diff().min() < 0):
                problem = 'ranks_voxel must be sorted'
            elif (bool(starts[0] != 0) or bool(ends[-1] != num_points)
                  or bool(lengths.min() <= 0) or not torch.equal(starts[1:], ends[:-1])):
                problem = 'intervals must cover the points in order, each non-empty'
            elif not torch.equal(torch.unique_consecutive(ranks_voxel, return_counts=True)[1],
                                 lengths):
                problem = 'each interval must be exactly one run of equal ranks_voxel'
    if problem:
        raise ValueError(f'voxel_pooling: bad point geometry: {problem} (build it with '
                         'voxel_pooling_prepare)')
    return ranks_depth, ranks_feat, ranks_voxel, starts, lengths
