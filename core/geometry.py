"""Voxel <-> metre conversions of axis-aligned grids and the pinhole projection of points into
images (one implementation for every layer).

A grid has its lowest corner at ``grid_min`` (metres, ego frame) and voxels of edge
``voxel_size`` metres (one edge, or one per axis); voxel (i, j, k) covers
``[grid_min + index * voxel_size, grid_min + (index + 1) * voxel_size)`` per axis and has its
centre at ``grid_min + (index + 0.5) * voxel_size``. Every function takes torch tensors or
numpy arrays and answers in the same kind; the trailing axis holds the grid's axes in order
(x, y, z for 3D, or any prefix of them).

A projection matrix (``ego2img``, ``lidar2img``, ...) is float [4, 4] from a metric frame to
image pixels: rows 0-1 give depth-scaled pixels (u * d, v * d), row 2 the camera depth d
(metres along the optical axis), row 3 is (0, 0, 0, 1); pixel centres are integers.
"""
import numpy as np
import torch


def _like(reference, values, dtype):
    if isinstance(reference, torch.Tensor):
        return torch.as_tensor(values, dtype=dtype, device=reference.device)
    return np.asarray(values, dtype=dtype)


def voxel_centres(coords, grid_min, voxel_size):
    """Metric centres of voxels.

    Args:
        coords (Tensor or np.ndarray): int (or float) [..., A] voxel indices.
        grid_min (sequence of A floats): metres of the grid's lowest corner, ego frame.
        voxel_size (float or sequence of A floats): voxel edge(s) in metres.

    Returns:
        Tensor (float32, or the float dtype of float coords) for tensors, float64 array for
        arrays, [..., A] metres (ego frame).
    """
    if isinstance(coords, torch.Tensor):
        dtype = coords.dtype if coords.is_floating_point() else torch.float32
        coords = coords.to(dtype)
    else:
        dtype = np.float64
        coords = np.asarray(coords, dtype)
    return (coords + 0.5) * _like(coords, voxel_size, dtype) + _like(coords, grid_min, dtype)


def voxel_of(points, grid_min, voxel_size):
    """Index of the voxel containing each point, as floats (``floor``), not yet bounded by the
    grid's shape: callers test ``0 <= index < shape`` and cast.

    Args:
        points (Tensor or np.ndarray): float [..., A] metres in the grid's frame.
        grid_min (sequence of A floats): metres of the grid's lowest corner.
        voxel_size (float or sequence of A floats): voxel edge(s) in metres.

    Returns:
        same kind and float dtype as ``points``, [..., A].
    """
    dtype = points.dtype if isinstance(points, torch.Tensor) else np.float64
    if not isinstance(points, torch.Tensor):
        points = np.asarray(points, dtype)
    index = (points - _like(points, grid_min, dtype)) / _like(points, voxel_size, dtype)
    return index.floor() if isinstance(index, torch.Tensor) else np.floor(index)


def dense_coords(shape, device=None):
    """int64 [prod(shape), len(shape)]: every voxel index of a grid, the first axis slowest
    (the order of ``volume.flatten()`` for a volume of that shape)."""
    axes = [torch.arange(n, device=device) for n in shape]
    return torch.stack(torch.meshgrid(*axes, indexing='ij'), -1).reshape(-1, len(shape))


def project_to_image(matrices, points, min_depth):
    """Pixels and camera depths of points seen through projection matrices.

    Args:
        matrices (Tensor or np.ndarray): float [..., 4, 4] projection matrices (module
            docstring) from the points' frame.
        points (same kind): float [..., P, 3] metres; its leading axes broadcast against
            the matrices' (points [B, 1, P, 3] with matrices [B, V, 4, 4] give [B, V, P]).
        min_depth (float): metres; a depth below it divides as ``min_depth``, so the pixels
            of points that close to or behind the camera are finite but meaningless: callers
            keep only the points deeper than their own bound.

    Returns:
        tuple: pixels (u, v) [..., P, 2] and depths [..., P] (metres). Tensors keep the
        points' float dtype (the matrices are cast to it); arrays are float64.
    """
    if isinstance(points, torch.Tensor):
        homogeneous = torch.cat([points, torch.ones_like(points[..., :1])], -1)
        projected = torch.einsum('...ij,...pj->...pi', matrices.to(points.dtype), homogeneous)
        depth = projected[..., 2]
        return projected[..., :2] / depth.clamp_min(min_depth)[..., None], depth
    points = np.asarray(points, np.float64)
    homogeneous = np.concatenate([points, np.ones_like(points[..., :1])], -1)
    projected = homogeneous @ np.swapaxes(np.asarray(matrices, np.float64), -1, -2)
    depth = projected[..., 2]
    return projected[..., :2] / np.maximum(depth, min_depth)[..., None], depth


def hidden_voxels(occupied):
    """Occupied voxels no straight path from outside reaches: bool np.ndarray [X, Y, Z], True
    where ``occupied`` (bool [X, Y, Z]) holds and so do all 6 face neighbours (outside the grid
    counts as free). A ray traversal moves between face neighbours, so it meets another
    occupied voxel before any of these."""
    padded = np.pad(np.asarray(occupied, dtype=bool), 1)
    hidden = padded[1:-1, 1:-1, 1:-1].copy()
    for axis in range(3):
        for shift in (1, -1):
            hidden &= np.roll(padded, shift, axis)[1:-1, 1:-1, 1:-1]
    return hidden
