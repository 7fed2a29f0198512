"""Occ3D-style ground truth: voxelise the world in the keyframe's ego frame
and derive LiDAR / camera visibility masks by voxel ray traversal.

Grid: ``cfg.occ_shape`` = (200, 200, 16) voxels of ``cfg.occ_voxel_size`` =
0.4 m, voxel (i, j, k) spans ego x in [x0 + 0.4 i, x0 + 0.4 (i + 1)) etc. with
(x0, y0, z0) = ``cfg.occ_range_min`` = (-40, -40, -1) m, so its centre is
(-40 + 0.4 (i + 0.5), -40 + 0.4 (j + 0.5), -1 + 0.4 (k + 0.5)).

A voxel takes the label of every shape that overlaps it by more than
``cfg.overlap_epsilon`` (exact separating-axis test, so thin parts such as
poles are kept); among several, the highest ``config.OCC_PRIORITY`` wins.
"""
import math

import numpy as np
from numba import njit, prange

from . import config
from .geometry import rot_z


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


@njit(cache=True, parallel=True)
def _trace(origins, dirs, tmax, stop_at_occupied, occupied, x0, y0, z0, vs, mask):
    """Amanatides-Woo traversal; marks every voxel a ray passes through.

    origins, dirs [R, 3] (ego frame; dirs need not be unit), a ray covers
    origin + t * dir for t in [0, tmax[r]].  With ``stop_at_occupied`` a ray
    ends in (and marks) the first occupied voxel.  Rays run in parallel; they
    only ever write 1 into ``mask``, so the result does not depend on order.
    """
    nx, ny, nz = mask.shape
    for r in prange(origins.shape[0]):
        ox, oy, oz = origins[r, 0], origins[r, 1], origins[r, 2]
        dx, dy, dz = dirs[r, 0], dirs[r, 1], dirs[r, 2]
        t0 = 0.0
        t1 = tmax[r]
        skip = False
        for ax in range(3):
            if ax == 0:
                o, d, lo, hi = ox, dx, x0, x0 + nx * vs
            elif ax == 1:
                o, d, lo, hi = oy, dy, y0, y0 + ny * vs
            else:
                o, d, lo, hi = oz, dz, z0, z0 + nz * vs
            if abs(d) < 1e-12:
                if o < lo or o >= hi:
                    skip = True
                continue
            ta = (lo - o) / d
            tb = (hi - o) / d
            t0 = max(t0, min(ta, tb))
            t1 = min(t1, max(ta, tb))
        if skip or t0 > t1:
            continue
        i, si, ti, di = _axis_setup(ox, dx, x0, vs, t0, nx)
        j, sj, tj, dj = _axis_setup(oy, dy, y0, vs, t0, ny)
        k, sk, tk, dk = _axis_setup(oz, dz, z0, vs, t0, nz)
        while True:
            mask[i, j, k] = 1
            if stop_at_occupied and occupied[i, j, k]:
                break
            if ti <= tj and ti <= tk:
                if ti > t1:
                    break
                i += si
                if i < 0 or i >= nx:
                    break
                ti += di
            elif tj <= tk:
                if tj > t1:
                    break
                j += sj
                if j < 0 or j >= ny:
                    break
                tj += dj
            else:
                if tk > t1:
                    break
                k += sk
                if k < 0 or k >= nz:
                    break
                tk += dk


class OccupancyBuilder:
    """Makes ``labels.npz`` contents for keyframes of one world."""

    def __init__(self, cfg, world, cameras, lidar):
        """``cfg`` ``WorldConfig``, ``world`` ``World``, ``cameras`` list of ``Camera`` and
        ``lidar`` ``Lidar`` (rigs in the ego frame)."""
        self.cfg = cfg
        self.world = world
        self.lidar = lidar
        self.prio = np.zeros(config.NUM_OCC_CLASSES, dtype=np.int64)
        for name, value in config.OCC_PRIORITY.items():
            self.prio[config.OCC[name]] = value
        self.code_to_occ = np.asarray(config.GROUND_CODE_TO_OCC, dtype=np.int64)
        nu, nv = cfg.camera_mask_rays
        dirs = [cam.ray_directions(nu, nv) for cam in cameras]
        self.cam_dirs = np.ascontiguousarray(np.concatenate(dirs))
        self.cam_origins = np.ascontiguousarray(np.concatenate(
            [np.repeat(cam.t_se[None], len(d), 0) for cam, d in zip(cameras, dirs)]))
        self.cam_tmax = np.full(len(self.cam_dirs), 1e3)
        z0, vs, nz = cfg.occ_range_min[2], cfg.occ_voxel_size, cfg.occ_shape[2]
        eps = cfg.overlap_epsilon
        ks = [k for k in range(nz)
              if z0 + k * vs < -eps and z0 + (k + 1) * vs > -cfg.ground_thickness + eps]
        self.ground_k = (min(ks), max(ks))

    def build(self, state, ego_t, ego_yaw, lidar_points):
        """Labels of one keyframe.

        ``state`` ``WorldState`` at the keyframe, ego pose ``ego_t`` [3] (global, m) and
        ``ego_yaw`` (float, rad), ``lidar_points`` float32 [N, 5] in the LIDAR_TOP frame.
        Returns a dict of arrays: semantics, mask_lidar, mask_camera (uint8 [200, 200, 16])
        and instances (uint16, scene-local object id, 0 = none).
        """
        cfg, w = self.cfg, self.world
        x0, y0, z0 = cfg.occ_range_min
        vs = cfg.occ_voxel_size
        sem = np.full(cfg.occ_shape, config.FREE, dtype=np.uint8)
        ins = np.zeros(cfg.occ_shape, dtype=np.uint16)
        _voxelize_ground(float(ego_t[0]), float(ego_t[1]), ego_yaw, w.raster.codes, w.raster.res,
                         self.code_to_occ, self.prio, x0, y0, vs, cfg.ground_subsamples,
                         self.ground_k[0], self.ground_k[1], sem)
        R_eg = rot_z(-ego_yaw)
        centre_e = np.ascontiguousarray((state.centre - ego_t) @ R_eg.T)
        yaw_e = state.yaw - ego_yaw
        _voxelize_parts(centre_e, state.half, yaw_e, state.valid, w.part_class,
                        w.part_instance.astype(np.int64), self.prio, x0, y0, z0, vs,
                        cfg.overlap_epsilon, sem, ins)
        occupied = sem != config.FREE
        mask_lidar = np.zeros(cfg.occ_shape, dtype=np.uint8)
        pts_e = lidar_points[:, :3].astype(np.float64) @ self.lidar.R_se.T + self.lidar.t_se
        origins = np.ascontiguousarray(np.repeat(self.lidar.t_se[None], len(pts_e), 0))
        _trace(origins, np.ascontiguousarray(pts_e - origins), np.ones(len(pts_e)), False, occupied,
               x0, y0, z0, vs, mask_lidar)
        mask_camera = np.zeros(cfg.occ_shape, dtype=np.uint8)
        _trace(self.cam_origins, self.cam_dirs, self.cam_tmax, True, occupied, x0, y0, z0, vs,
               mask_camera)
        return dict(semantics=sem, mask_lidar=mask_lidar, mask_camera=mask_camera, instances=ins)
