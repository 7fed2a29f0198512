"""Camera images (z-buffer rasterisation of box faces) and LiDAR ray casting.

Both work on a ``world.WorldState`` (part boxes in the global frame) plus the
analytic ground plane z = 0 whose label comes from the ground raster.

Camera pipeline, per image (numba, single thread):
1. ``_ground_fill``: per pixel, intersect the ray with z = 0 -> inverse depth
   buffer ``wbuf`` (1 / camera z, float64 [H, W], 0 = nothing) and id -1, else
   id -2 (sky).
2. ``_raster_parts``: every visible face of every part (frustum + back-face
   culled, clipped at the near plane) is rasterised; id = part * 6 + face.
3. ``_shade``: per pixel albedo (part colour or ground code), texture program,
   Lambert sun shading, distance haze, sky gradient -> uint8 RGB [H, W, 3].
"""
import math

import numpy as np
from numba import njit, prange

from . import config
from .sensors import sensor_world_pose

ID_GROUND = -1
ID_SKY = -2

# Corner k of a box has local offsets (+-hx, +-hy, +-hz) with bit 4 -> +x,
# bit 2 -> +y, bit 1 -> +z.  Faces: 0 +x, 1 -x, 2 +y, 3 -y, 4 +z, 5 -z.
FACE_CORNERS = np.array([[4, 5, 7, 6], [0, 1, 3, 2], [2, 3, 7, 6],
                         [0, 1, 5, 4], [1, 3, 7, 5], [0, 2, 6, 4]], dtype=np.int64)


# --------------------------------------------------------------------------
# numba kernels
# --------------------------------------------------------------------------
@njit(cache=True)
def _face_normal(f, c, s):
    if f == 0:
        return c, s, 0.0
    if f == 1:
        return -c, -s, 0.0
    if f == 2:
        return -s, c, 0.0
    if f == 3:
        return s, -c, 0.0
    if f == 4:
        return 0.0, 0.0, 1.0
    return 0.0, 0.0, -1.0


@njit(cache=True, parallel=True)
def _ground_fill(Rwc, cam_pos, fx, fy, cx, cy, ground_far, wbuf, idbuf):
    H, W = wbuf.shape
    for v in prange(H):
        dy = (v - cy) / fy
        for u in range(W):
            dx = (u - cx) / fx
            dz = Rwc[2, 0] * dx + Rwc[2, 1] * dy + Rwc[2, 2]
            wbuf[v, u] = 0.0
            idbuf[v, u] = ID_SKY
            if dz < -1e-9:
                t = -cam_pos[2] / dz     # camera depth, as the ray has unit z in camera frame
                if t > 0:
                    wx = Rwc[0, 0] * dx + Rwc[0, 1] * dy + Rwc[0, 2]
                    wy = Rwc[1, 0] * dx + Rwc[1, 1] * dy + Rwc[1, 2]
                    if t * math.sqrt(wx * wx + wy * wy + dz * dz) < ground_far:
                        wbuf[v, u] = 1.0 / t
                        idbuf[v, u] = ID_GROUND


@njit(cache=True)
def _raster_tri(x0, y0, w0, x1, y1, w1, x2, y2, w2, ident, wbuf, idbuf):
    H, W = wbuf.shape
    area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
    if abs(area) < 1e-12:
        return
    inv = 1.0 / area
    # barycentric lambda_i = a_i * x + b_i * y + c_i
    a0, b0 = -(y2 - y1) * inv, (x2 - x1) * inv
    c0 = -(a0 * x1 + b0 * y1)
    a1, b1 = -(y0 - y2) * inv, (x0 - x2) * inv
    c1 = -(a1 * x2 + b1 * y2)
    a2, b2 = -(y1 - y0) * inv, (x1 - x0) * inv
    c2 = -(a2 * x0 + b2 * y0)
    wa = a0 * w0 + a1 * w1 + a2 * w2
    wb = b0 * w0 + b1 * w1 + b2 * w2
    wc = c0 * w0 + c1 * w1 + c2 * w2
    ymin = max(0, int(math.ceil(min(y0, min(y1, y2)))))
    ymax = min(H - 1, int(math.floor(max(y0, max(y1, y2)))))
    xminf = max(0.0, math.ceil(min(x0, min(x1, x2))))
    xmaxf = min(W - 1.0, math.floor(max(x0, max(x1, x2))))
    if xminf > xmaxf:
        return
    eps = -1e-9
    for py in range(ymin, ymax + 1):
        lo = xminf
        hi = xmaxf
        empty = False
        for e in range(3):
            if e == 0:
                a, r = a0, b0 * py + c0
            elif e == 1:
                a, r = a1, b1 * py + c1
            else:
                a, r = a2, b2 * py + c2
            # need a * x + r >= eps
            if a > 1e-15:
                lo = max(lo, (eps - r) / a)
            elif a < -1e-15:
                hi = min(hi, (eps - r) / a)
            elif r < eps:
                empty = True
        if empty:
            continue
        ix0 = int(math.ceil(lo))
        ix1 = int(math.floor(hi))
        if ix0 > ix1:
            continue
        w = wa * ix0 + wb * py + wc
        for px in range(ix0, ix1 + 1):
            if w > wbuf[py, px]:
                wbuf[py, px] = w
                idbuf[py, px] = ident
            w += wa


@njit(cache=True)
def _raster_parts(Rcw, cam_pos, fx, fy, cx, cy, near, far, centre, half, yaw, valid, face_corners,
                  wbuf, idbuf):
    H, W = wbuf.shape
    cw = np.empty((8, 3))
    cc = np.empty((8, 3))
    poly = np.empty((4, 3))
    clip = np.empty((8, 3))
    proj = np.empty((8, 3))
    for p in range(centre.shape[0]):
        if not valid[p]:
            continue
        hx, hy, hz = half[p, 0], half[p, 1], half[p, 2]
        rad = math.sqrt(hx * hx + hy * hy + hz * hz)
        dx = centre[p, 0] - cam_pos[0]
        dy = centre[p, 1] - cam_pos[1]
        dz = centre[p, 2] - cam_pos[2]
        if math.sqrt(dx * dx + dy * dy + dz * dz) - rad > far:
            continue
        if Rcw[2, 0] * dx + Rcw[2, 1] * dy + Rcw[2, 2] * dz + rad < near:
            continue
        c = math.cos(yaw[p])
        s = math.sin(yaw[p])
        out_l = out_r = out_t = out_b = True
        for k in range(8):
            lx = hx if k & 4 else -hx
            ly = hy if k & 2 else -hy
            lz = hz if k & 1 else -hz
            wx = centre[p, 0] + c * lx - s * ly
            wy = centre[p, 1] + s * lx + c * ly
            wz = centre[p, 2] + lz
            cw[k, 0], cw[k, 1], cw[k, 2] = wx, wy, wz
            rx, ry, rz = wx - cam_pos[0], wy - cam_pos[1], wz - cam_pos[2]
            x = Rcw[0, 0] * rx + Rcw[0, 1] * ry + Rcw[0, 2] * rz
            y = Rcw[1, 0] * rx + Rcw[1, 1] * ry + Rcw[1, 2] * rz
            z = Rcw[2, 0] * rx + Rcw[2, 1] * ry + Rcw[2, 2] * rz
            cc[k, 0], cc[k, 1], cc[k, 2] = x, y, z
            # half-spaces through the camera centre and the image borders
            if fx * x + (cx + 1.0) * z >= 0:
                out_l = False
            if fx * x + (cx - W) * z <= 0:
                out_r = False
            if fy * y + (cy + 1.0) * z >= 0:
                out_t = False
            if fy * y + (cy - H) * z <= 0:
                out_b = False
        if out_l or out_r or out_t or out_b:
            continue
        for f in range(6):
            nx, ny, nz = _face_normal(f, c, s)
            ax = f // 2
            ext = hx if ax == 0 else (hy if ax == 1 else hz)
            fcx = centre[p, 0] + nx * ext - cam_pos[0]
            fcy = centre[p, 1] + ny * ext - cam_pos[1]
            fcz = centre[p, 2] + nz * ext - cam_pos[2]
            if fcx * nx + fcy * ny + fcz * nz >= 0:
                continue   # back face
            for i in range(4):
                k = face_corners[f, i]
                poly[i, 0], poly[i, 1], poly[i, 2] = cc[k, 0], cc[k, 1], cc[k, 2]
            # Sutherland-Hodgman against z >= near
            m = 0
            for i in range(4):
                j = (i + 1) % 4
                ain = poly[i, 2] >= near
                bin_ = poly[j, 2] >= near
                if ain:
                    clip[m, 0], clip[m, 1], clip[m, 2] = poly[i, 0], poly[i, 1], poly[i, 2]
                    m += 1
                if ain != bin_:
                    t = (near - poly[i, 2]) / (poly[j, 2] - poly[i, 2])
                    clip[m, 0] = poly[i, 0] + t * (poly[j, 0] - poly[i, 0])
                    clip[m, 1] = poly[i, 1] + t * (poly[j, 1] - poly[i, 1])
                    clip[m, 2] = near
                    m += 1
            if m < 3:
                continue
            for i in range(m):
                iz = 1.0 / clip[i, 2]
                proj[i, 0] = fx * clip[i, 0] * iz + cx
                proj[i, 1] = fy * clip[i, 1] * iz + cy
                proj[i, 2] = iz
            ident = p * 6 + f
            for i in range(1, m - 1):
                _raster_tri(proj[0, 0], proj[0, 1], proj[0, 2], proj[i, 0], proj[i, 1], proj[i, 2],
                            proj[i + 1, 0], proj[i + 1, 1], proj[i + 1, 2], ident, wbuf, idbuf)


@njit(cache=True)
def _hash(ix, iy, seed):
    h = (((ix & 0xFFFFFFFF) * 73856093) ^ ((iy & 0xFFFFFFFF) * 19349663)
         ^ ((seed & 0xFFFFFFFF) * 83492791))
    h &= 0xFFFFFFFF
    h = ((h ^ (h >> 13)) * 1274126177) & 0xFFFFFFFF
    h ^= h >> 16
    return (h & 0xFFFFFF) / 16777216.0


@njit(cache=True)
def _vnoise(x, y, seed):
    """Smooth value noise in [0, 1) with unit lattice spacing."""
    fx0 = math.floor(x)
    fy0 = math.floor(y)
    ix = int(fx0)
    iy = int(fy0)
    tx = x - fx0
    ty = y - fy0
    tx = tx * tx * (3.0 - 2.0 * tx)
    ty = ty * ty * (3.0 - 2.0 * ty)
    a = _hash(ix, iy, seed)
    b = _hash(ix + 1, iy, seed)
    c = _hash(ix, iy + 1, seed)
    d = _hash(ix + 1, iy + 1, seed)
    return (a + (b - a) * tx) * (1 - ty) + (c + (d - c) * tx) * ty


@njit(cache=True)
def _grain(x, y, seed):
    """Blocky per-cell noise in [0, 1)."""
    return _hash(int(math.floor(x)), int(math.floor(y)), seed)


@njit(cache=True)
def _mix_noise(a, b, smooth, grain, w_smooth, seed, fine):
    """Blend of smooth value noise (cells 1/smooth m) and blocky grain (cells
    1/grain m); the grain fades to its mean as ``fine`` goes to 0."""
    g = fine * _grain(a * grain, b * grain, seed + 1) + (1.0 - fine) * 0.5
    return w_smooth * _vnoise(a * smooth, b * smooth, seed) + (1.0 - w_smooth) * g


@njit(cache=True)
def _frac(x):
    return x - math.floor(x)


@njit(cache=True, parallel=True)
def _shade(Rwc, cam_pos, fx, fy, cx, cy, wbuf, idbuf, centre, half, cos_yaw, sin_yaw, colour, tex,
           seed, codes, res, ground_albedo, sun, params, sky_h, sky_z, window, glass, roof, out):
    ambient, diffuse, fog_d, strength = params[0], params[1], params[2], params[3]
    win_sx, win_sy, detail_d = params[4], params[5], params[6]
    H, W = wbuf.shape
    ny_r, nx_r = codes.shape
    for v in prange(H):
        dyc = (v - cy) / fy
        for u in range(W):
            dxc = (u - cx) / fx
            dwx = Rwc[0, 0] * dxc + Rwc[0, 1] * dyc + Rwc[0, 2]
            dwy = Rwc[1, 0] * dxc + Rwc[1, 1] * dyc + Rwc[1, 2]
            dwz = Rwc[2, 0] * dxc + Rwc[2, 1] * dyc + Rwc[2, 2]
            dn = math.sqrt(dwx * dwx + dwy * dwy + dwz * dwz)
            ident = idbuf[v, u]
            if ident == ID_SKY:
                e = max(0.0, dwz / dn)
                t = min(1.0, e * 2.2)
                n = _vnoise(u * 0.01 + dwx * 3.0, dwz * 9.0, 7) if e > 0.02 else 0.5
                for ch in range(3):
                    val = sky_h[ch] + (sky_z[ch] - sky_h[ch]) * t + 0.04 * (n - 0.5) * t
                    out[v, u, ch] = min(255, max(0, int(val * 255.0 + 0.5)))
                continue
            depth = 1.0 / wbuf[v, u]
            px = cam_pos[0] + dwx * depth
            py = cam_pos[1] + dwy * depth
            pz = cam_pos[2] + dwz * depth
            dist = depth * dn
            fine = max(0.0, 1.0 - dist / detail_d)    # sub-pixel grain would only alias
            r = 0.0
            g = 0.0
            b = 0.0
            nx = 0.0
            ny = 0.0
            nz = 1.0
            noise = 0.5
            amp = strength
            if ident == ID_GROUND:
                ix = int(math.floor(px / res))
                iy = int(math.floor(py / res))
                code = 0
                if 0 <= ix < nx_r and 0 <= iy < ny_r:
                    code = codes[iy, ix]
                r, g, b = ground_albedo[code, 0], ground_albedo[code, 1], ground_albedo[code, 2]
                if code == config.GROUND_TERRAIN:
                    n1 = _vnoise(px * 0.3, py * 0.3, 11)
                    r += 0.12 * (n1 - 0.5)
                    g += 0.06 * (n1 - 0.5)
                    noise = _mix_noise(px, py, 1.5, 8.0, 0.6, 12, fine)
                    amp = 1.6 * strength
                elif code == config.GROUND_OTHER_FLAT:
                    line = _frac(px / 0.6) < 0.08 or _frac(py / 0.6) < 0.08
                    noise = 0.25 if line else 0.5 + 0.5 * (_grain(px / 0.6, py / 0.6, 21) - 0.5)
                elif code == config.GROUND_SIDEWALK:
                    line = _frac(px / 1.0) < 0.05 or _frac(py / 1.0) < 0.05
                    noise = 0.3 if line else 0.45 + 0.3 * _vnoise(px, py, 31)
                else:
                    noise = _mix_noise(px, py, 0.4, 12.0, 0.55, 41, fine)
            else:
                p = ident // 6
                f = ident - p * 6
                c = cos_yaw[p]
                s = sin_yaw[p]
                qx0 = px - centre[p, 0]
                qy0 = py - centre[p, 1]
                qx = c * qx0 + s * qy0
                qy = -s * qx0 + c * qy0
                qz = pz - centre[p, 2]
                nx, ny, nz = _face_normal(f, c, s)
                hx, hy, hz = half[p, 0], half[p, 1], half[p, 2]
                if f < 2:
                    fa, fb, ea, eb = qy, qz, hy, hz
                elif f < 4:
                    fa, fb, ea, eb = qx, qz, hx, hz
                else:
                    fa, fb, ea, eb = qx, qy, hx, hy
                sd = seed[p]
                r, g, b = colour[p, 0], colour[p, 1], colour[p, 2]
                tx = tex[p]
                vertical = f < 4
                noise = _mix_noise(fa, fb, 2.0, 12.0, 0.6, sd, fine)
                if tx == config.TEX_FACADE:
                    if vertical:
                        along = fa + ea
                        up = fb + eb
                        if (0.25 < _frac(along / win_sx + 0.13 * (sd % 7)) < 0.72
                                and 0.35 < _frac(up / win_sy) < 0.8
                                and up > 1.2 and up < 2 * eb - 0.6
                                and along > 0.8 and along < 2 * ea - 0.8):
                            lit = _grain(along / win_sx, up / win_sy, sd + 2)
                            r, g, b = window[0], window[1], window[2]
                            if lit > 0.85:
                                r, g, b = 0.75, 0.68, 0.45
                            amp = 0.3 * strength
                        amp = amp * 0.7
                    elif f == 4:
                        r, g, b = roof[0], roof[1], roof[2]
                elif tx == config.TEX_GLASS:
                    if vertical and fb + eb > 0.12 * 2 * eb and abs(fa) < ea - 0.1:
                        r, g, b = glass[0], glass[1], glass[2]
                        amp = 0.3 * strength
                elif tx == config.TEX_BUS:
                    rel = (fb + eb) / (2 * eb)
                    if vertical:
                        lo_w = 0.35 if f == 0 else 0.5
                        if (lo_w < rel < 0.88 and abs(fa) < ea - 0.25
                                and (f < 2 or _frac((fa + ea) / 1.4) > 0.08)):
                            r, g, b = glass[0], glass[1], glass[2]
                            amp = 0.3 * strength
                elif tx == config.TEX_FOLIAGE:
                    n2 = _vnoise(fa * 1.2 + 3.1 * f, fb * 1.2, sd + 5)
                    r += 0.10 * (n2 - 0.5)
                    g += 0.12 * (n2 - 0.5)
                    noise = _mix_noise(fa, fb, 4.0, 14.0, 0.5, sd + 6, fine)
                    amp = 2.2 * strength
                elif tx == config.TEX_STRIPES:
                    if _frac((qy + hy) / 0.5) >= 0.5:
                        r, g, b = 0.92, 0.92, 0.9
                elif tx == config.TEX_CONE:
                    if vertical and 0.4 < _frac(pz / 0.35) < 0.7:
                        r, g, b = 0.95, 0.95, 0.95
                elif tx == config.TEX_SIDEWALK:
                    if f == 4:
                        along = qx + hx
                        line = _frac(along / 1.0) < 0.05 or _frac((qy + hy) / 1.0) < 0.05
                        noise = 0.3 if line else 0.45 + 0.3 * _vnoise(along, qy, sd)
                    else:
                        r, g, b = r * 1.1, g * 1.1, b * 1.1
            lam = ambient + diffuse * max(0.0, nx * sun[0] + ny * sun[1] + nz * sun[2])
            fac = lam * (1.0 + amp * 2.0 * (noise - 0.5))
            fog = math.exp(-dist / fog_d)
            vals = (r * fac, g * fac, b * fac)
            for ch in range(3):
                val = vals[ch] * fog + sky_h[ch] * (1.0 - fog)
                out[v, u, ch] = min(255, max(0, int(val * 255.0 + 0.5)))


@njit(cache=True)
def _lidar_cast(origin, dirs, az0, centre, half, yaw, valid, max_range, t_out, id_out):
    """Nearest hit of every beam against all parts.

    dirs [B, A, 3] unit world directions, column j at world azimuth az0 + 2 pi j / A.
    Outputs t_out [B, A] range (m, initialised to max_range) and id_out [B, A]
    (part * 6 + face, or untouched).  Only columns inside a part's azimuth
    span are tested, which keeps the cost proportional to the parts' angular size.
    """
    B, A = t_out.shape
    daz = 2.0 * math.pi / A
    for p in range(centre.shape[0]):
        if not valid[p]:
            continue
        hx, hy, hz = half[p, 0], half[p, 1], half[p, 2]
        dx = centre[p, 0] - origin[0]
        dy = centre[p, 1] - origin[1]
        if math.sqrt(dx * dx + dy * dy) - math.sqrt(hx * hx + hy * hy) > max_range:
            continue
        c = math.cos(yaw[p])
        s = math.sin(yaw[p])
        ox = -(c * dx + s * dy)
        oy = -(-s * dx + c * dy)
        oz = origin[2] - centre[p, 2]
        if abs(ox) <= hx and abs(oy) <= hy:
            j0 = 0
            nj = A
        else:
            ref = math.atan2(dy, dx)
            amin = 10.0
            amax = -10.0
            for k in range(4):
                lx = hx if k & 2 else -hx
                ly = hy if k & 1 else -hy
                wx = dx + c * lx - s * ly
                wy = dy + s * lx + c * ly
                a = math.atan2(wy, wx) - ref
                if a > math.pi:
                    a -= 2 * math.pi
                elif a < -math.pi:
                    a += 2 * math.pi
                amin = min(amin, a)
                amax = max(amax, a)
            j0 = int(math.floor((ref + amin - az0) / daz))
            nj = int(math.ceil((ref + amax - az0) / daz)) - j0 + 1
            if nj > A:
                nj = A
        for jj in range(nj):
            j = (j0 + jj) % A
            if j < 0:
                j += A
            for i in range(B):
                d0 = dirs[i, j, 0]
                d1 = dirs[i, j, 1]
                d2 = dirs[i, j, 2]
                lx = c * d0 + s * d1
                ly = -s * d0 + c * d1
                tn = -1e30
                tf = 1e30
                face = -1
                miss = False
                for ax in range(3):
                    if ax == 0:
                        o, d, h = ox, lx, hx
                    elif ax == 1:
                        o, d, h = oy, ly, hy
                    else:
                        o, d, h = oz, d2, hz
                    if abs(d) < 1e-12:
                        if o < -h or o > h:
                            miss = True
                            break
                        continue
                    t1 = (-h - o) / d
                    t2 = (h - o) / d
                    if t1 < t2:
                        if t1 > tn:
                            tn = t1
                            face = 2 * ax + 1      # entered through the - face
                        tf = min(tf, t2)
                    else:
                        if t2 > tn:
                            tn = t2
                            face = 2 * ax          # entered through the + face
                        tf = min(tf, t1)
                if miss or tn > tf or tn <= 0.0:
                    continue
                if tn < t_out[i, j]:
                    t_out[i, j] = tn
                    id_out[i, j] = p * 6 + face


# --------------------------------------------------------------------------
# Python front ends
# --------------------------------------------------------------------------
def _ground_albedo():
    """float64 [6, 3] albedo per ground raster code."""
    table = np.zeros((6, 3))
    table[config.GROUND_TERRAIN] = config.TERRAIN
    table[config.GROUND_OTHER_FLAT] = config.OTHER_FLAT
    table[config.GROUND_SIDEWALK] = config.SIDEWALK
    table[config.GROUND_ROAD] = config.ASPHALT
    table[config.GROUND_MARK_WHITE] = config.MARK_WHITE
    table[config.GROUND_MARK_YELLOW] = config.MARK_YELLOW
    return table


class Renderer:
    """Renders the cameras of one world; holds the constant shading inputs."""

    def __init__(self, cfg, world):
        """``cfg`` ``WorldConfig``, ``world`` ``World``."""
        self.cfg = cfg
        self.world = world
        self.ground_albedo = _ground_albedo()
        self.params = np.array([cfg.ambient, cfg.diffuse, cfg.fog_distance, cfg.texture_strength,
                                cfg.window_spacing[0], cfg.window_spacing[1],
                                cfg.texture_detail_distance],
                               dtype=np.float64)
        self.sky_h = np.asarray(cfg.sky_horizon, dtype=np.float64)
        self.sky_z = np.asarray(cfg.sky_zenith, dtype=np.float64)
        self.window = np.asarray(config.WINDOW, dtype=np.float64)
        self.glass = np.asarray(config.GLASS, dtype=np.float64)
        self.roof = np.asarray(config.ROOF, dtype=np.float64)

    def render(self, cam, state, ego_t, ego_yaw):
        """Render one camera.

        ``cam`` ``Camera``, ``state`` ``WorldState``, ego pose ``ego_t`` [3] (global, m) and
        ``ego_yaw`` (float, rad).  Returns a tuple: rgb uint8 [H, W, 3], inverse depth
        float64 [H, W] (1 / camera z in 1/m, 0 for sky) and id int32 [H, W] (part * 6 + face,
        -1 ground, -2 sky).
        """
        cfg, w = self.cfg, self.world
        R_wc, pos = sensor_world_pose(ego_t, ego_yaw, cam.R_se, cam.t_se)
        R_cw = np.ascontiguousarray(R_wc.T)
        H, W = cam.height, cam.width
        wbuf = np.empty((H, W), dtype=np.float64)
        idbuf = np.empty((H, W), dtype=np.int32)
        _ground_fill(R_wc, pos, cam.fx, cam.fy, cam.cx, cam.cy, 3.0 * cfg.render_distance, wbuf,
                     idbuf)
        _raster_parts(R_cw, pos, cam.fx, cam.fy, cam.cx, cam.cy, cfg.camera_near,
                      cfg.render_distance, state.centre, state.half, state.yaw, state.valid,
                      FACE_CORNERS, wbuf, idbuf)
        rgb = np.empty((H, W, 3), dtype=np.uint8)
        _shade(R_wc, pos, cam.fx, cam.fy, cam.cx, cam.cy, wbuf, idbuf, state.centre, state.half,
               np.cos(state.yaw), np.sin(state.yaw), w.part_colour, w.part_tex, w.part_seed,
               w.raster.codes, w.raster.res, self.ground_albedo,
               w.sun, self.params, self.sky_h, self.sky_z, self.window, self.glass, self.roof, rgb)
        return rgb, wbuf, idbuf


def cast_lidar(cfg, world, lidar, state, ego_t, ego_yaw, rng):
    """Cast the LiDAR beams at one frame and return its returns.

    ``cfg`` ``WorldConfig``, ``world`` ``World``, ``lidar`` ``Lidar``, ``state`` ``WorldState``,
    ego pose ``ego_t`` [3] (global, m) and ``ego_yaw`` (float, rad); ``rng``
    ``np.random.Generator`` draws the range noise.

    Returns a dict for the N returns: ``beam`` int64 [N] (ring, 0 = lowest), ``range`` float64
    [N] (m, with noise), ``hit`` int64 [N] (part * 6 + face, or ``ID_GROUND``), ``points``
    float64 [N, 3] (global, m), ``class`` int32 [N] (Occ3D class of the surface hit),
    ``dirs_lidar`` float64 [N, 3] (unit, lidar frame), ``dirs_global`` float64 [N, 3] and
    ``origin`` float64 [3] (the sensor, global, m).
    """
    R_wl, origin = sensor_world_pose(ego_t, ego_yaw, lidar.R_se, lidar.t_se)
    dirs_l = lidar.directions()                             # [B, A, 3]
    dirs_w = np.ascontiguousarray(dirs_l @ R_wl.T)
    B, A = dirs_l.shape[:2]
    t = np.full((B, A), lidar.max_range, dtype=np.float64)
    ids = np.full((B, A), ID_SKY, dtype=np.int64)
    _lidar_cast(origin, dirs_w, ego_yaw + lidar.yaw_se, state.centre, state.half, state.yaw,
                state.valid, lidar.max_range, t, ids)
    dz = dirs_w[..., 2]
    with np.errstate(divide='ignore', invalid='ignore'):
        tg = np.where(dz < -1e-9, -origin[2] / dz, np.inf)
    ground = tg < t
    t = np.where(ground, tg, t)
    ids = np.where(ground, ID_GROUND, ids)
    hit = (ids != ID_SKY) & (t < lidar.max_range) & (t >= lidar.min_range)
    bi, aj = np.nonzero(hit)
    rng_t = t[bi, aj] + rng.normal(0.0, cfg.lidar_range_noise, size=len(bi))
    hid = ids[bi, aj]
    d_w = dirs_w[bi, aj]
    pw = origin + d_w * rng_t[:, None]
    cls = np.empty(len(hid), dtype=np.int32)
    g = hid == ID_GROUND
    cls[g] = np.asarray(config.GROUND_CODE_TO_OCC)[world.raster.lookup(pw[g, 0], pw[g, 1])]
    cls[~g] = world.part_class[hid[~g] // 6]
    return {'beam': bi, 'range': rng_t, 'hit': hid, 'points': pw, 'class': cls,
            'dirs_lidar': dirs_l[bi, aj], 'dirs_global': d_w, 'origin': origin}


def lidar_points(world, state, returns, rng):
    """The LIDAR_TOP file contents of one sweep: float32 [N, 5] = x, y, z (lidar frame, m),
    intensity (0-255, per-class reflectivity x incidence, ``rng`` draws its noise) and ring
    index, from ``cast_lidar``'s ``returns`` of ``state`` (``WorldState``) in ``world``."""
    hid, cls, d_w = returns['hit'], returns['class'], returns['dirs_global']
    refl = np.asarray(config.LIDAR_REFLECTIVITY, dtype=np.float64)[cls]
    cosi = np.empty(len(hid), dtype=np.float64)
    g = hid == ID_GROUND
    codes = world.raster.lookup(returns['points'][g, 0], returns['points'][g, 1])
    refl[g] = np.where(codes >= config.GROUND_MARK_WHITE, config.LIDAR_MARKING_REFLECTIVITY,
                       refl[g])
    cosi[g] = np.abs(d_w[g, 2])
    pp = hid[~g] // 6
    ff = hid[~g] % 6
    yaw = state.yaw[pp]
    c, s = np.cos(yaw), np.sin(yaw)
    normals = np.zeros((len(pp), 3))
    sign = np.where(ff % 2 == 0, 1.0, -1.0)
    ax = ff // 2
    normals[ax == 0] = np.stack([c, s, 0 * c], 1)[ax == 0]
    normals[ax == 1] = np.stack([-s, c, 0 * c], 1)[ax == 1]
    normals[ax == 2, 2] = 1.0
    normals *= sign[:, None]
    cosi[~g] = np.abs((normals * d_w[~g]).sum(1))
    intensity = refl * (0.35 + 0.65 * cosi) + rng.normal(0.0, 2.0, size=len(hid))
    out = np.empty((len(hid), 5), dtype=np.float32)
    out[:, :3] = returns['dirs_lidar'] * returns['range'][:, None]
    out[:, 3] = np.clip(np.round(intensity), 0, 255)
    out[:, 4] = returns['beam']
    return out
