"""Ray casting through a voxel grid: first occupied voxel along each ray.

Frame: a regular grid of ``voxel_size`` cubes whose lowest corner is ``grid_min`` (for Occ3D
the ego frame, grid_min = (-40, -40, -1) m, voxel 0.4 m, 200 x 200 x 16 voxels); voxel
(i, j, k) spans ``grid_min + voxel_size * [i, i+1) x [j, j+1) x [k, k+1)``.
"""
import torch

from .backend import choose_impl


def _check_inputs(occupied, origins, directions, grid_min, voxel_size):
    """Validates shapes and geometry; returns contiguous float64 / bool tensors on
    ``occupied``'s device. One pass over the rays: a RayIoU sample has 112k of them."""
    if occupied.dim() != 3:
        raise ValueError(f'ray_cast: occupied must be [X, Y, Z], got shape {tuple(occupied.shape)}')
    if origins.dim() != 2 or origins.shape[-1] != 3 or directions.shape != origins.shape:
        raise ValueError('ray_cast: origins and directions must both be [N, 3], got '
                         f'{tuple(origins.shape)} and {tuple(directions.shape)}')
    device = occupied.device
    origins = origins.to(device, torch.float64).contiguous()
    directions = directions.to(device, torch.float64).contiguous()
    if origins.shape[0]:
        low, high = origins.aminmax(dim=0)
        upper = [m + voxel_size * n for m, n in zip(grid_min, occupied.shape)]
        if any(float(low[a]) < grid_min[a] or float(high[a]) > upper[a] for a in range(3)):
            raise ValueError('ray_cast: every origin must lie inside the grid')
        if bool((directions.abs().amax(dim=1) == 0).any()):
            raise ValueError('ray_cast: every direction must be non-zero')
    return occupied.bool().contiguous(), origins, directions


def ray_cast(occupied, origins, directions, grid_min=(0.0, 0.0, 0.0), voxel_size=1.0,
             impl='auto'):
    """Casts rays through ``occupied`` and stops each at its first occupied voxel.

    Args:
        occupied (Tensor): bool (or 0/1) [X, Y, Z], True where a voxel is not free.
        origins (Tensor): float [N, 3], ray origins in metres, inside the grid.
        directions (Tensor): float [N, 3], ray directions (any non-zero length).
        grid_min (sequence of 3 floats): metres of the grid's lowest corner.
        voxel_size (float): edge of one cubic voxel in metres.
        impl (str): ``'auto'`` (compiled CUDA -> compiled CPU -> reference), ``'cuda'``,
            ``'cpu'`` or ``'reference'``.

    Returns:
        tuple(Tensor, Tensor): ``distance`` float64 [N], metres from the origin to where the
        ray leaves the stopping voxel, and ``voxel`` int64 [N, 3], that voxel's (i, j, k).
        The stopping voxel is the first occupied one (the origin's own voxel included) or,
        when the ray hits nothing, the last voxel it crosses inside the grid.
    """
    grid_min = [float(v) for v in grid_min]
    voxel_size = float(voxel_size)
    occupied, origins, directions = _check_inputs(occupied, origins, directions, grid_min,
                                                  voxel_size)
    chosen = choose_impl('ray_cast', occupied.device, impl)
    if chosen == 'reference':
        return _cast_reference(occupied, origins, directions, grid_min, voxel_size)
    device = occupied.device
    if chosen == 'cpu' and device.type != 'cpu':
        occupied, origins, directions = occupied.cpu(), origins.cpu(), directions.cpu()
    distance, voxel = torch.ops.gdocc.ray_cast(occupied, origins, directions, grid_min,
                                               voxel_size)
    return distance.to(device), voxel.to(device)


def ray_cast_reference(occupied, origins, directions, grid_min=(0.0, 0.0, 0.0), voxel_size=1.0):
    """Pure-PyTorch :func:`ray_cast` (same arguments and results), for tests and fallback."""
    return ray_cast(occupied, origins, directions, grid_min, voxel_size, impl='reference')


def _cast_reference(occupied, origins_m, directions_m, grid_min, voxel_size):
    """Amanatides-Woo traversal of all rays at once.

    Takes exactly the floating-point steps of ``models/csrc/ray_cast.h`` (same operations in
    the same order, ties broken towards the lower axis), so results match the kernels bit
    for bit.
    """
    dx, dy, dz = directions_m.unbind(1)
    directions = directions_m / torch.sqrt(dx * dx + dy * dy + dz * dz)[:, None]
    origins = (origins_m - torch.tensor(grid_min, dtype=torch.float64,
                                        device=origins_m.device)) / voxel_size
    size = torch.tensor(occupied.shape, dtype=torch.long, device=occupied.device)
    voxel = origins.floor().long().clamp(min=torch.zeros_like(size), max=size - 1)
    positive, negative = directions > 0, directions < 0
    step = positive.long() - negative.long()
    boundary = (voxel + positive.long()).double()
    inf = torch.full_like(directions, float('inf'))
    moving = positive | negative
    t_max = torch.where(moving, (boundary - origins) / torch.where(moving, directions, 1.0), inf)
    t_delta = torch.where(positive, 1.0 / directions,
                          torch.where(negative, -1.0 / directions, inf))

    num_rays = origins.shape[0]
    exit_t = torch.empty(num_rays, dtype=torch.float64, device=origins.device)
    flat_occupied = occupied.reshape(-1)
    active = torch.arange(num_rays, device=origins.device)
    rows = torch.arange(num_rays, device=origins.device)
    while active.numel() > 0:
        tm = t_max[active]
        tx, ty, tz = tm.unbind(1)
        axis = torch.where(tx <= ty, torch.where(tx <= tz, 0, 2), torch.where(ty <= tz, 1, 2))
        cur = voxel[active]
        hit = flat_occupied[(cur[:, 0] * size[1] + cur[:, 1]) * size[2] + cur[:, 2]]
        local = rows[:active.numel()]
        nxt = cur[local, axis] + step[active, axis]
        leaves = (nxt < 0) | (nxt >= size[axis])
        done = hit | leaves
        exit_t[active[done]] = tm[local[done], axis[done]]
        go, go_axis = active[~done], axis[~done]
        voxel[go, go_axis] = nxt[~done]
        t_max[go, go_axis] += t_delta[go, go_axis]
        active = go
    return exit_t * voxel_size, voxel
