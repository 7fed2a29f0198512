"""Occ3D-style ground truth, built the way Occ3D builds it (Tian et al., "Occ3D", 2023, Sec. 3).

1. **Accumulation.** Every LiDAR sweep of the scene (``cfg.occ_lidar_sweeps_per_keyframe`` per
   keyframe interval, from ``cfg.occ_accumulation_margin`` before the first keyframe to as long
   after the last: Occ3D accumulates a whole 20 s scene) is kept: returns on static geometry
   (ground, sidewalks, buildings, vegetation, poles) in the global frame, returns on annotated
   objects in their own box frame, so a moving car is gathered along its track and leaves no
   smear. Each return keeps its ray's origin, carried through the same transforms.
2. **Labels per keyframe.** Static returns are placed by the keyframe's ego pose, each object's
   returns by its pose at the keyframe (objects absent at the keyframe drop out). A voxel
   holding returns takes their majority class (ties: ``config.OCC_PRIORITY``); a voxel without
   returns is free. So, as in Occ3D, building and object interiors are not occupied: LiDAR
   sees surfaces.
3. **Hole closing** (Occ3D's mesh-reconstruction step, here a morphological closing): a free
   voxel is filled when every voxel within ``cfg.occ_closing_radius`` (Chebyshev, voxels) is
   occupied or next to an occupied one, i.e. a gap of up to 2 r voxels between returns closes.
   It takes the majority class of its occupied neighbours within r. Closing never thickens a
   flat surface nor fills a space wider than 2 r, so interiors stay free; every occupied voxel
   lies within r of a voxel with returns. The ground, a plane in the layer holding z = 0, is
   closed once more in 2-D with ``cfg.occ_ground_closing_radius``: far from the sensor the
   rings of its beams lie metres apart.
4. **Visibility.** ``mask_lidar``: every voxel a ray of the accumulated returns traverses, from
   its sensor origin to its return (one ray per sweep and return voxel), including the return's
   voxel. ``mask_camera``: every voxel the keyframe's camera rays
   (``cfg.camera_mask_rays`` per camera) traverse up to and including the first occupied one.

Grid: ``cfg.occ_shape`` = (200, 200, 16) voxels of ``cfg.occ_voxel_size`` = 0.4 m; voxel
(i, j, k) spans ego x in [x0 + 0.4 i, x0 + 0.4 (i + 1)) etc. with (x0, y0, z0) =
``cfg.occ_range_min`` = (-40, -40, -1) m, so its centre is
(-40 + 0.4 (i + 0.5), -40 + 0.4 (j + 0.5), -1 + 0.4 (k + 0.5)).

``solid_semantics`` voxelises the true solid geometry instead (every box filled): the
reference the tests and ``tools/toy_label_check.py`` compare the LiDAR-built labels against.
"""
import math

import numpy as np
from numba import njit, prange

from . import config
from .render import ID_GROUND


@njit(cache=True)
def _voxelize_parts(centre, half, yaw, valid, cls, inst, prio, x0, y0, z0, vs, eps, sem, ins):
    nx, ny, nz = sem.shape
    hv = 0.5 * vs
    for p in range(centre.shape[0]):
        if not valid[p]:
            continue
        c = math.cos(yaw[p])
        s = math.sin(yaw[p])
        ac, as_ = abs(c), abs(s)
        hx, hy, hz = half[p, 0], half[p, 1], half[p, 2]
        rx = ac * hx + as_ * hy
        ry = as_ * hx + ac * hy
        cx, cy, cz = centre[p, 0], centre[p, 1], centre[p, 2]
        i0 = max(0, int(math.floor((cx - rx - x0) / vs)))
        i1 = min(nx - 1, int(math.floor((cx + rx - x0) / vs)))
        j0 = max(0, int(math.floor((cy - ry - y0) / vs)))
        j1 = min(ny - 1, int(math.floor((cy + ry - y0) / vs)))
        k0 = max(0, int(math.floor((cz - hz - z0) / vs)))
        k1 = min(nz - 1, int(math.floor((cz + hz - z0) / vs)))
        if i0 > i1 or j0 > j1 or k0 > k1:
            continue
        label = cls[p]
        pr = prio[label]
        grow = hv * (ac + as_)     # voxel square's radius along the part's axes
        for i in range(i0, i1 + 1):
            vx = x0 + (i + 0.5) * vs - cx
            if abs(vx) >= rx + hv - eps:
                continue
            for j in range(j0, j1 + 1):
                vy = y0 + (j + 0.5) * vs - cy
                if abs(vy) >= ry + hv - eps:
                    continue
                if abs(c * vx + s * vy) >= hx + grow - eps:
                    continue
                if abs(-s * vx + c * vy) >= hy + grow - eps:
                    continue
                for k in range(k0, k1 + 1):
                    zlo = z0 + k * vs
                    if zlo >= cz + hz - eps or zlo + vs <= cz - hz + eps:
                        continue
                    if pr > prio[sem[i, j, k]]:
                        sem[i, j, k] = label
                        ins[i, j, k] = inst[p]


@njit(cache=True, parallel=True)
def _voxelize_ground(ego_x, ego_y, ego_yaw, codes, res, code_to_occ, prio, x0, y0, vs, nsub, k_lo,
                     k_hi, sem):
    nx, ny, nz = sem.shape
    nyr, nxr = codes.shape
    c = math.cos(ego_yaw)
    s = math.sin(ego_yaw)
    for i in prange(nx):
        counts = np.zeros(prio.shape[0], dtype=np.int64)
        for j in range(ny):
            counts[:] = 0
            for a in range(nsub):
                ex = x0 + (i + (a + 0.5) / nsub) * vs
                for b in range(nsub):
                    ey = y0 + (j + (b + 0.5) / nsub) * vs
                    gx = ego_x + c * ex - s * ey
                    gy = ego_y + s * ex + c * ey
                    ix = int(math.floor(gx / res))
                    iy = int(math.floor(gy / res))
                    code = 0
                    if 0 <= ix < nxr and 0 <= iy < nyr:
                        code = codes[iy, ix]
                    counts[code_to_occ[code]] += 1
            best = 0
            for q in range(counts.shape[0]):
                if counts[q] > counts[best]:
                    best = q
            for k in range(k_lo, k_hi + 1):
                if prio[best] > prio[sem[i, j, k]]:
                    sem[i, j, k] = best


@njit(cache=True)
def _axis_setup(o, d, g0, vs, t0, nmax):
    """Start index, step, next boundary t and t per voxel of one axis."""
    q = int(math.floor((o + d * t0 - g0) / vs))
    q = min(max(q, 0), nmax - 1)
    if d > 1e-12:
        return q, 1, (g0 + (q + 1) * vs - o) / d, vs / d
    if d < -1e-12:
        return q, -1, (g0 + q * vs - o) / d, -vs / d
    return q, 0, 1e30, 1e30


@njit(cache=True)
def _trace_one(origin, d, tmax, x0, y0, z0, vs, mask, occupied=None):
    """Amanatides-Woo traversal of origin + t d, t in [0, tmax] (ego frame, m; d need not be
    unit): marks every voxel it passes through in ``mask``. With ``occupied`` given, the ray
    ends in (and marks) the first occupied voxel."""
    nx, ny, nz = mask.shape
    t0 = 0.0
    t1 = tmax
    for ax in range(3):
        if ax == 0:
            o, dd, lo, hi = origin[0], d[0], x0, x0 + nx * vs
        elif ax == 1:
            o, dd, lo, hi = origin[1], d[1], y0, y0 + ny * vs
        else:
            o, dd, lo, hi = origin[2], d[2], z0, z0 + nz * vs
        if abs(dd) < 1e-12:
            if o < lo or o >= hi:
                return
            continue
        ta = (lo - o) / dd
        tb = (hi - o) / dd
        t0 = max(t0, min(ta, tb))
        t1 = min(t1, max(ta, tb))
    if t0 > t1:
        return
    i, si, ti, di = _axis_setup(origin[0], d[0], x0, vs, t0, nx)
    j, sj, tj, dj = _axis_setup(origin[1], d[1], y0, vs, t0, ny)
    k, sk, tk, dk = _axis_setup(origin[2], d[2], z0, vs, t0, nz)
    while True:
        mask[i, j, k] = 1
        if occupied is not None and occupied[i, j, k]:
            return
        if ti <= tj and ti <= tk:
            if ti > t1:
                return
            i += si
            if i < 0 or i >= nx:
                return
            ti += di
        elif tj <= tk:
            if tj > t1:
                return
            j += sj
            if j < 0 or j >= ny:
                return
            tj += dj
        else:
            if tk > t1:
                return
            k += sk
            if k < 0 or k >= nz:
                return
            tk += dk


@njit(cache=True, parallel=True)
def _trace_to_first_hit(origins, dirs, occupied, x0, y0, z0, vs, mask):
    """Marks in ``mask`` every voxel the rays origins + t dirs (t >= 0, ego frame, [R, 3])
    traverse up to and including the first ``occupied`` one. Rays run in parallel and only
    ever write 1, so the result does not depend on their order."""
    for r in prange(origins.shape[0]):
        _trace_one(origins[r], dirs[r], 1e30, x0, y0, z0, vs, mask, occupied)


@njit(cache=True, parallel=True)
def _dilate(occupied, r, out):
    """``out`` [X, Y, Z] = 1 where some voxel within Chebyshev distance ``r`` is occupied."""
    nx, ny, nz = occupied.shape
    for i in prange(nx):
        for j in range(ny):
            for k in range(nz):
                hit = 0
                for a in range(max(0, i - r), min(nx, i + r + 1)):
                    for b in range(max(0, j - r), min(ny, j + r + 1)):
                        for c in range(max(0, k - r), min(nz, k + r + 1)):
                            if occupied[a, b, c]:
                                hit = 1
                                break
                        if hit:
                            break
                    if hit:
                        break
                out[i, j, k] = hit


@njit(cache=True)
def _close_holes(sem, ins, dilated, r, prio, free):
    """Fill the free voxels of ``sem`` whose whole (2 r + 1)^3 neighbourhood (inside the grid)
    is ``dilated``; each takes the majority class of the occupied voxels within ``r`` of it
    (ties: ``prio``) and the largest instance id among those of that class. Decisions read
    only the labels from before the closing, so the result does not depend on voxel order."""
    nx, ny, nz = sem.shape
    src = sem.copy()
    src_ins = ins.copy()
    counts = np.zeros(prio.shape[0], dtype=np.int64)
    for i in range(nx):
        for j in range(ny):
            for k in range(nz):
                if src[i, j, k] != free or not dilated[i, j, k]:
                    continue
                closed = True
                for a in range(max(0, i - r), min(nx, i + r + 1)):
                    for b in range(max(0, j - r), min(ny, j + r + 1)):
                        for c in range(max(0, k - r), min(nz, k + r + 1)):
                            if not dilated[a, b, c]:
                                closed = False
                if not closed:
                    continue
                counts[:] = 0
                for a in range(max(0, i - r), min(nx, i + r + 1)):
                    for b in range(max(0, j - r), min(ny, j + r + 1)):
                        for c in range(max(0, k - r), min(nz, k + r + 1)):
                            if src[a, b, c] != free:
                                counts[src[a, b, c]] += 1
                best = free
                for q in range(counts.shape[0]):
                    if counts[q] > 0 and (best == free or counts[q] > counts[best]
                                          or (counts[q] == counts[best] and prio[q] > prio[best])):
                        best = q
                sem[i, j, k] = best
                top = 0
                for a in range(max(0, i - r), min(nx, i + r + 1)):
                    for b in range(max(0, j - r), min(ny, j + r + 1)):
                        for c in range(max(0, k - r), min(nz, k + r + 1)):
                            if src[a, b, c] == best and src_ins[a, b, c] > top:
                                top = src_ins[a, b, c]
                ins[i, j, k] = top


@njit(cache=True)
def _vote(points, cls, ins, x0, y0, z0, vs, prio, free, counts, sem, inst):
    """Majority vote of the returns per voxel: ``sem`` takes the class with most returns
    (ties: higher ``prio``), ``inst`` the largest instance id among the returns of that class.

    points [N, 3] (ego frame, m), cls int32 [N], ins int64 [N]; counts int32 [X, Y, Z, C]
    (zeroed) is scratch; sem uint8 / inst uint16 [X, Y, Z] come in free / 0.
    """
    nx, ny, nz = sem.shape
    n = points.shape[0]
    vox = np.full(n, -1, dtype=np.int64)
    for p in range(n):
        i = int(math.floor((points[p, 0] - x0) / vs))
        j = int(math.floor((points[p, 1] - y0) / vs))
        k = int(math.floor((points[p, 2] - z0) / vs))
        if 0 <= i < nx and 0 <= j < ny and 0 <= k < nz:
            vox[p] = (i * ny + j) * nz + k
            counts[i, j, k, cls[p]] += 1
    for p in range(n):
        v = vox[p]
        if v < 0:
            continue
        k = v % nz
        j = (v // nz) % ny
        i = v // (nz * ny)
        if sem[i, j, k] == free:
            best = 0
            for q in range(counts.shape[3]):
                if counts[i, j, k, q] > counts[i, j, k, best] or (
                        counts[i, j, k, q] == counts[i, j, k, best] and prio[q] > prio[best]):
                    best = q
            sem[i, j, k] = best
        if cls[p] == sem[i, j, k] and ins[p] > inst[i, j, k]:
            inst[i, j, k] = ins[p]


@njit(cache=True)
def _rays_to_trace(origins, origin_of, points, sweeps, x0, y0, z0, vs, shape):
    """Indices (int64 [R]) of the returns whose rays ``_trace_returns`` traces.

    Rays of one sweep that end in the same voxel (their return's voxel, or for a return
    outside the grid the voxel where the ray leaves it) traverse nearly the same voxels, and
    near the sensor one voxel holds hundreds of returns: only the first of each is kept.
    ``origins`` [O, 3] and ``points`` [N, 3] ego frame (m), ``origin_of`` int64 [N] (row of
    ``origins``), ``sweeps`` int64 [N] ascending, ``shape`` the grid's (X, Y, Z).
    """
    nx, ny, nz = shape
    last = np.full((nx, ny, nz), -1, dtype=np.int64)
    keep = np.zeros(points.shape[0], dtype=np.bool_)
    lo = (x0, y0, z0)
    n_ax = (nx, ny, nz)
    for p in range(points.shape[0]):
        o = origins[origin_of[p]]
        d = points[p] - o
        t0 = 0.0
        t1 = 1.0
        for ax in range(3):
            hi = lo[ax] + n_ax[ax] * vs
            if abs(d[ax]) < 1e-12:
                if o[ax] < lo[ax] or o[ax] >= hi:
                    t1 = -1.0
                continue
            ta = (lo[ax] - o[ax]) / d[ax]
            tb = (hi - o[ax]) / d[ax]
            t0 = max(t0, min(ta, tb))
            t1 = min(t1, max(ta, tb))
        if t1 < t0:
            continue
        e = o + d * (t1 - 1e-9)
        i = min(max(int(math.floor((e[0] - x0) / vs)), 0), nx - 1)
        j = min(max(int(math.floor((e[1] - y0) / vs)), 0), ny - 1)
        k = min(max(int(math.floor((e[2] - z0) / vs)), 0), nz - 1)
        if last[i, j, k] != sweeps[p]:
            last[i, j, k] = sweeps[p]
            keep[p] = True
    return np.nonzero(keep)[0]


@njit(cache=True, parallel=True)
def _trace_returns(origins, origin_of, points, rays, x0, y0, z0, vs, mask):
    """``mask`` [X, Y, Z] = 1 on every voxel the rays origin -> return of the returns ``rays``
    (int64 [R]) traverse, the return's voxel included (arguments as ``_rays_to_trace``). Rays
    run in parallel and only ever write 1, so the result does not depend on their order."""
    for r in prange(rays.shape[0]):
        p = rays[r]
        o = origins[origin_of[p]]
        _trace_one(o, points[p] - o, 1.0, x0, y0, z0, vs, mask)


@njit(cache=True, parallel=True)
def _place(points, obj, poses, out):
    """``out`` [N, 3] = ``points`` [N, 3] given in their object's frame (x, y about the pose,
    z unchanged) placed by ``poses`` [O, 3] (x, y, yaw) of objects ``obj`` int64 [N]; an
    ``obj`` of -1 means a single pose, ``poses[0]``, for every point."""
    for p in prange(points.shape[0]):
        q = poses[max(obj[p], 0)]
        c = math.cos(q[2])
        s = math.sin(q[2])
        out[p, 0] = q[0] + c * points[p, 0] - s * points[p, 1]
        out[p, 1] = q[1] + s * points[p, 0] + c * points[p, 1]
        out[p, 2] = points[p, 2]


def _close(sem, inst, r, prio):
    """Hole closing of ``sem`` / ``inst`` (uint8 / uint16 [X, Y, Z], changed in place) with
    Chebyshev radius ``r`` voxels (``_close_holes``); nothing for r = 0."""
    if r > 0:
        dilated = np.zeros(sem.shape, dtype=np.uint8)
        _dilate(sem != config.FREE, r, dilated)
        _close_holes(sem, inst, dilated, r, prio, config.FREE)


def _priority_table():
    """int64 [18]: ``config.OCC_PRIORITY`` by class index."""
    prio = np.zeros(config.NUM_OCC_CLASSES, dtype=np.int64)
    for name, value in config.OCC_PRIORITY.items():
        prio[config.OCC[name]] = value
    return prio


def _to_ego(points, ego_t, ego_yaw):
    """Global points [N, 3] (m) -> ego frame of the pose (``ego_t`` [3], ``ego_yaw`` rad)."""
    c, s = math.cos(ego_yaw), math.sin(ego_yaw)
    inverse = np.array([[-(c * ego_t[0] + s * ego_t[1]), s * ego_t[0] - c * ego_t[1], -ego_yaw]])
    out = np.empty_like(points)
    _place(np.ascontiguousarray(points), np.full(len(points), -1), inverse, out)
    out[:, 2] -= ego_t[2]
    return out


class OccupancyBuilder:
    """Accumulates one scene's LiDAR sweeps and makes ``labels.npz`` contents per keyframe."""

    def __init__(self, cfg, world, cameras):
        """``cfg`` ``WorldConfig``, ``world`` ``World``, ``cameras`` list of ``Camera`` (rig in
        the ego frame)."""
        self.cfg = cfg
        self.world = world
        self.prio = _priority_table()
        nu, nv = cfg.camera_mask_rays
        dirs = [cam.ray_directions(nu, nv) for cam in cameras]
        self.cam_dirs = np.ascontiguousarray(np.concatenate(dirs))
        self.cam_origins = np.ascontiguousarray(np.concatenate(
            [np.repeat(cam.t_se[None], len(d), 0) for cam, d in zip(cameras, dirs)]))
        self.thing_obj = np.array([bool(o.category) for o in world.objects])
        self.ground_classes = np.unique(config.GROUND_CODE_TO_OCC)
        self._sweeps = []       # per sweep: (frame index, cast_lidar returns)
        self._acc = None

    def add_sweep(self, ti, returns):
        """Keep the returns (``render.cast_lidar``'s dict) of the sweep at frame index ``ti``."""
        self._sweeps.append((ti, returns))
        self._acc = None

    def _accumulate(self):
        """Every sweep's returns as flat arrays: static ones in the global frame, object ones in
        their object's frame (x, y about the object's pose, z global), with their class,
        instance and sweep index; each sweep's sensor origin (global) and, per object return,
        that origin in the object's frame."""
        w = self.world
        acc = {key: [] for key in ('static_points', 'static_cls', 'static_sweep', 'thing_points',
                                   'thing_origins', 'thing_obj', 'thing_cls', 'thing_inst',
                                   'thing_sweep', 'sweep_origins')}
        for sweep, (ti, r) in enumerate(self._sweeps):
            hit = r['hit']
            part = np.where(hit == ID_GROUND, -1, hit // 6)
            obj = np.where(part >= 0, w.part_obj[np.maximum(part, 0)], -1)
            thing = (obj >= 0) & self.thing_obj[np.maximum(obj, 0)]
            acc['sweep_origins'].append(r['origin'])
            acc['static_points'].append(r['points'][~thing])
            acc['static_cls'].append(r['class'][~thing])
            acc['static_sweep'].append(np.full(int((~thing).sum()), sweep))
            # into the object's frame: placing by the inverse of its pose
            q = w.object_poses(ti)[obj[thing]]
            c, s = np.cos(q[:, 2]), np.sin(q[:, 2])
            inverse = np.stack([-(c * q[:, 0] + s * q[:, 1]), s * q[:, 0] - c * q[:, 1],
                                -q[:, 2]], 1)
            rows = np.arange(len(q))
            for key, points in (('thing_points', r['points'][thing]),
                                ('thing_origins', np.repeat(r['origin'][None], len(q), 0))):
                local = np.empty_like(points)
                _place(np.ascontiguousarray(points), rows, inverse, local)
                acc[key].append(local)
            acc['thing_obj'].append(obj[thing])
            acc['thing_cls'].append(r['class'][thing])
            acc['thing_inst'].append(w.part_instance[part[thing]].astype(np.int64))
            acc['thing_sweep'].append(np.full(len(q), sweep))
        self._acc = {key: np.ascontiguousarray(np.concatenate(v) if key != 'sweep_origins'
                                               else np.stack(v)) for key, v in acc.items()}

    def returns_at(self, ti, ego_t, ego_yaw):
        """Every accumulated return placed at keyframe ``ti`` (objects absent then drop out),
        in its ego frame (``ego_t`` [3] global, m, ``ego_yaw`` rad).

        Returns a dict: ``points`` float64 [N, 3] (m), ``cls`` int32 [N], ``inst`` int64 [N]
        (0 for stuff), ``sweep`` int64 [N], ``origins`` float64 [O, 3] (m) and ``origin_of``
        int64 [N]: the row of ``origins`` where the return's ray starts.
        """
        if self._acc is None:
            self._accumulate()
        acc = self._acc
        keep = self.world.object_present(ti)[acc['thing_obj']]
        poses = np.ascontiguousarray(self.world.object_poses(ti))
        placed = []
        for key in ('thing_points', 'thing_origins'):
            out = np.empty((int(keep.sum()), 3))
            _place(acc[key][keep], acc['thing_obj'][keep], poses, out)
            placed.append(out)
        n_sweeps = len(acc['sweep_origins'])
        return dict(
            points=_to_ego(np.concatenate([acc['static_points'], placed[0]]), ego_t, ego_yaw),
            cls=np.concatenate([acc['static_cls'], acc['thing_cls'][keep]]),
            inst=np.concatenate([np.zeros(len(acc['static_cls']), np.int64),
                                 acc['thing_inst'][keep]]),
            sweep=np.concatenate([acc['static_sweep'], acc['thing_sweep'][keep]]),
            origins=_to_ego(np.concatenate([acc['sweep_origins'], placed[1]]), ego_t, ego_yaw),
            origin_of=np.concatenate([acc['static_sweep'],
                                      n_sweeps + np.arange(len(placed[1]))]))

    def build(self, ti, ego_t, ego_yaw):
        """Labels of the keyframe at frame index ``ti`` (ego pose ``ego_t`` [3] global, m, and
        ``ego_yaw`` float, rad), from every sweep added so far (add the whole scene first).

        Returns a dict of arrays: semantics, mask_lidar, mask_camera (uint8 [200, 200, 16]) and
        instances (uint16, scene-local object id, 0 = none).
        """
        cfg = self.cfg
        x0, y0, z0 = cfg.occ_range_min
        vs = cfg.occ_voxel_size
        returns = self.returns_at(ti, ego_t, ego_yaw)
        sem = np.full(cfg.occ_shape, config.FREE, dtype=np.uint8)
        inst = np.zeros(cfg.occ_shape, dtype=np.uint16)
        counts = np.zeros(cfg.occ_shape + (config.NUM_OCC_CLASSES,), dtype=np.int32)
        _vote(returns['points'], returns['cls'], returns['inst'], x0, y0, z0, vs, self.prio,
              config.FREE, counts, sem, inst)
        _close(sem, inst, cfg.occ_closing_radius, self.prio)
        # the ground surface, a plane in the layer holding z = 0, closes wider gaps
        k = int(math.floor(-z0 / vs))
        ground = np.where(np.isin(sem[:, :, k:k + 1], self.ground_classes), sem[:, :, k:k + 1],
                          config.FREE)
        _close(ground, np.zeros_like(ground, dtype=np.uint16), cfg.occ_ground_closing_radius,
               self.prio)
        sem[:, :, k:k + 1] = np.where(sem[:, :, k:k + 1] == config.FREE, ground,
                                      sem[:, :, k:k + 1])
        mask_lidar = np.zeros(cfg.occ_shape, dtype=np.uint8)
        args = (returns['origins'], returns['origin_of'], returns['points'])
        rays = _rays_to_trace(*args, returns['sweep'], x0, y0, z0, vs, cfg.occ_shape)
        _trace_returns(*args, rays, x0, y0, z0, vs, mask_lidar)
        mask_camera = np.zeros(cfg.occ_shape, dtype=np.uint8)
        _trace_to_first_hit(self.cam_origins, self.cam_dirs, sem != config.FREE, x0, y0, z0, vs,
                            mask_camera)
        return dict(semantics=sem, mask_lidar=mask_lidar, mask_camera=mask_camera,
                    instances=inst)


def solid_semantics(cfg, world, state, ego_t, ego_yaw):
    """The true solid geometry of one frame voxelised (every box filled, the ground one voxel
    layer): uint8 [200, 200, 16] Occ3D labels in the ego frame of (``ego_t`` [3] global, m,
    ``ego_yaw`` float, rad), ``state`` a ``WorldState``. A voxel takes the label of every
    shape that overlaps it by more than ``cfg.overlap_epsilon`` (exact separating-axis test,
    so thin parts such as poles are kept); among several, the highest ``config.OCC_PRIORITY``
    wins.

    Not the ground truth (that is ``OccupancyBuilder``): the reference it is checked against.
    """
    x0, y0, z0 = cfg.occ_range_min
    vs = cfg.occ_voxel_size
    prio = _priority_table()
    sem = np.full(cfg.occ_shape, config.FREE, dtype=np.uint8)
    ins = np.zeros(cfg.occ_shape, dtype=np.uint16)
    # the ground plane z = 0 lies in the layer whose span contains it
    k_ground = int(math.floor((0.0 - z0) / vs))
    _voxelize_ground(float(ego_t[0]), float(ego_t[1]), ego_yaw, world.raster.codes,
                     world.raster.res, np.asarray(config.GROUND_CODE_TO_OCC, dtype=np.int64),
                     prio, x0, y0, vs, cfg.ground_subsamples, k_ground, k_ground, sem)
    centre_e = np.ascontiguousarray(_to_ego(state.centre, ego_t, ego_yaw))
    _voxelize_parts(centre_e, state.half, state.yaw - ego_yaw, state.valid, world.part_class,
                    world.part_instance.astype(np.int64), prio, x0, y0, z0, vs,
                    cfg.overlap_epsilon, sem, ins)
    return sem
