"""Ray casting through a voxel grid: first occupied voxel along each ray.

Frame: a regular grid of ``voxel_size`` cubes whose lowest corner is ``grid_min`` (for Occ3D
the ego frame, grid_min = (-40, -40, -1) m, voxel 0.4 m, 200 x 200 x 16 voxels); voxel
(i, j, k) spans ``grid_min + voxel_size * [i, i+1) x [j, j+1) x [k, k+1)``.

Precision: the traversal always runs in float64 (floating origins and directions of any
precision are converted first), so autocast or half-precision inputs cannot change which
voxels a ray visits.
"""
import torch

from .backend import choose_impl

# SparseOcc's lib/dvr/dvr.cu gives up on a ray after this many voxel steps (kMaxSteps of
# models/csrc/ray_cast.h).
MAX_STEPS = 1000
# Origins farther than this from the grid (in voxels) would overflow the voxel indices.
MAX_ORIGIN_VOXELS = 1e9


def _check_inputs(occupied, origins, directions, grid_min, voxel_size):
    """Validates shapes and values; returns contiguous float64 / bool tensors on
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
        offset = (origins - torch.tensor(grid_min, dtype=torch.float64, device=device)).abs()
        if not bool((offset / voxel_size < MAX_ORIGIN_VOXELS).all()):
            raise ValueError(f'ray_cast: every origin must be finite and within '
                             f'{MAX_ORIGIN_VOXELS:g} voxels of the grid')
        if bool((directions.abs().amax(dim=1) == 0).any()):
            raise ValueError('ray_cast: every direction must be non-zero')
    return occupied.bool().contiguous(), origins, directions


def ray_cast(occupied, origins, directions, grid_min=(0.0, 0.0, 0.0), voxel_size=1.0,
             impl='auto'):
    """Casts rays through ``occupied`` and stops each at its first occupied voxel, with the
    traversal of SparseOcc's RayIoU kernel (``lib/dvr/dvr.cu``).

    Traversal (in voxel units, voxel (i, j, k) spanning [i, i+1) x [j, j+1) x [k, k+1)):
    the start voxel is the origin truncated towards zero (an origin less than one voxel
    below the grid starts in its first layer); from an origin outside the grid the ray
    walks, ignoring occupancy, until it enters the grid; a tie between two boundaries goes
    to the later axis (z before y before x); the walk stops at the first occupied voxel,
    where it leaves the grid after being inside, or after ``MAX_STEPS`` steps.

    Args:
        occupied (Tensor): bool (or 0/1) [X, Y, Z], True where a voxel is not free.
        origins (Tensor): float [N, 3], ray origins in metres (inside or outside the grid).
        directions (Tensor): float [N, 3], ray directions (any non-zero length).
        grid_min (sequence of 3 floats): metres of the grid's lowest corner.
        voxel_size (float): edge of one cubic voxel in metres.
        impl (str): ``'auto'`` (compiled CUDA -> compiled CPU -> reference), ``'cuda'``,
            ``'cpu'`` or ``'reference'``.

    Returns:
        tuple(Tensor, Tensor): ``distance`` float64 [N], metres from the origin to where the
        ray leaves the stopping voxel, and ``voxel`` int64 [N, 3], that voxel's (i, j, k).
        The stopping voxel is the first occupied one (the start voxel included) or, when
        the ray hits nothing, the last voxel it crosses inside the grid. A ray that never
        enters the grid yields distance ``-voxel_size`` and voxel (0, 0, 0), as SparseOcc's
        kernel leaves them.
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


def _next_axis(t_max):
    """int64 [M]: the axis each ray steps along next, ties to the later axis (dvr.cu's
    strict ``<``). ``t_max``: float64 [M, 3]."""
    tx, ty, tz = t_max.unbind(1)
    return torch.where(tx < ty, torch.where(tx < tz, 0, 2), torch.where(ty < tz, 1, 2))


def _cast_reference(occupied, origins_m, directions_m, grid_min, voxel_size):
    """Amanatides-Woo traversal of all rays at once.

    Takes exactly the floating-point steps of ``models/csrc/ray_cast.h`` (same operations in
    the same order, ties broken towards the later axis), so results match the kernels bit
    for bit.
    """
    dx, dy, dz = directions_m.unbind(1)
    directions = directions_m / torch.sqrt(dx * dx + dy * dy + dz * dz)[:, None]
    origins = (origins_m - torch.tensor(grid_min, dtype=torch.float64,
                                        device=origins_m.device)) / voxel_size
    size = torch.tensor(occupied.shape, dtype=torch.long, device=occupied.device)
    voxel = origins.trunc().long()
    moving = directions != 0
    step = torch.where(directions >= 0, 1, -1)
    boundary = (voxel + (step > 0).long()).double()
    inf = torch.full_like(directions, float('inf'))
    safe = torch.where(moving, directions, 1.0)
    t_max = torch.where(moving, (boundary - origins) / safe, inf)
    t_delta = torch.where(moving, step.double() / safe, inf)

    num_rays = origins.shape[0]
    exit_t = torch.empty(num_rays, dtype=torch.float64, device=origins.device)
    steps = torch.zeros(num_rays, dtype=torch.long, device=origins.device)
    rows = torch.arange(num_rays, device=origins.device)

    # Outside the grid: walk until inside; give up where an axis can never come back.
    outside = rows[((voxel < 0) | (voxel >= size)).any(dim=1)]
    inside = torch.ones(num_rays, dtype=torch.bool, device=origins.device)
    while outside.numel() > 0:
        cur, st, mv = voxel[outside], step[outside], moving[outside]
        hopeless = (((cur < 0) & ((st < 0) | ~mv)) | ((cur >= size) & (st > 0))).any(dim=1)
        never = hopeless | (steps[outside] >= MAX_STEPS)
        gone = outside[never]
        exit_t[gone] = -1.0
        voxel[gone] = 0
        inside[gone] = False
        go = outside[~never]
        axis = _next_axis(t_max[go])
        voxel[go, axis] += step[go, axis]
        t_max[go, axis] += t_delta[go, axis]
        steps[go] += 1
        outside = go[((voxel[go] < 0) | (voxel[go] >= size)).any(dim=1)]

    flat_occupied = occupied.reshape(-1)
    active = rows[inside]
    while active.numel() > 0:
        tm = t_max[active]
        axis = _next_axis(tm)
        cur = voxel[active]
        hit = flat_occupied[(cur[:, 0] * size[1] + cur[:, 1]) * size[2] + cur[:, 2]]
        local = rows[:active.numel()]
        nxt = cur[local, axis] + step[active, axis]
        leaves = (nxt < 0) | (nxt >= size[axis])
        done = hit | leaves | (steps[active] >= MAX_STEPS)
        exit_t[active[done]] = tm[local[done], axis[done]]
        go, go_axis = active[~done], axis[~done]
        voxel[go, go_axis] = nxt[~done]
        t_max[go, go_axis] += t_delta[go, go_axis]
        steps[go] += 1
        active = go
    return exit_t * voxel_size, voxel
