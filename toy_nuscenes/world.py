"""Procedural street scene: streets, ground labels, buildings, vegetation,
street furniture, traffic and pedestrians, and the ego trajectory.

Everything solid in the world is a *part*: a box with a yaw about +z, owned
by an *object* that has a pose (x, y, yaw in the global frame) at every frame
time of the scene.  The ground is the plane z = 0 whose label comes from a
raster (``GroundRaster``).  Rendering, LiDAR and occupancy all read the same
parts and raster, so images, points and labels agree by construction.

Object frame: x forward (length), y left (width), z up, origin on the ground
below the object's centre.  Lateral street offsets ``d`` are positive to the
left of the street heading; street side 0 is the right side (d < 0), side 1
the left side (d > 0).  Traffic drives on the right.
"""
import math
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import numpy as np
from PIL import Image, ImageDraw

from . import config
from .config import OCC, WorldConfig
from .geometry import obb_overlap, wrap_angle

SIDES = (0, 1)
SIDE_SIGN = (-1.0, 1.0)


# --------------------------------------------------------------------------
# Streets
# --------------------------------------------------------------------------
@dataclass(eq=False)
class Street:
    """A street: centreline polyline plus its cross-section.

    ``s`` [N] arc length (m, may start negative), ``xy`` [N, 2] global centreline
    (m), ``heading`` [N] (rad, unwrapped, direction of increasing s).
    """
    s: np.ndarray
    xy: np.ndarray
    heading: np.ndarray
    lanes_per_direction: int
    lane_width: float
    parking: Tuple[bool, bool]
    parking_width: float
    sidewalk_width: float

    @property
    def s_min(self):
        return float(self.s[0])

    @property
    def s_max(self):
        return float(self.s[-1])

    @property
    def half_drive(self):
        """Lateral distance from centreline to the outer edge of the driving lanes."""
        return self.lanes_per_direction * self.lane_width

    def curb(self, side):
        """|d| of the curb (road edge) on ``side`` (int, 0 right, 1 left)."""
        return self.half_drive + (self.parking_width if self.parking[side] else 0.0)

    def sidewalk_outer(self, side):
        """|d| of the outer sidewalk edge on ``side`` (int, 0 right, 1 left)."""
        return self.curb(side) + self.sidewalk_width

    def frame(self, s):
        """Centreline x, y and heading at arc length(s) ``s`` (clamped to the street)."""
        s = np.asarray(s, dtype=np.float64)
        return (np.interp(s, self.s, self.xy[:, 0]), np.interp(s, self.s, self.xy[:, 1]),
                np.interp(s, self.s, self.heading))

    def point(self, s, d):
        """Global x, y and street heading at (s, d)."""
        x, y, h = self.frame(s)
        d = np.asarray(d, dtype=np.float64)
        return x - d * np.sin(h), y + d * np.cos(h), h

    def project(self, x, y):
        """(s, d) street coordinates of global points (nearest centreline sample)."""
        pts = np.stack([np.ravel(x), np.ravel(y)], axis=1).astype(np.float64)
        s_out = np.empty(len(pts))
        d_out = np.empty(len(pts))
        for lo in range(0, len(pts), 2048):
            p = pts[lo:lo + 2048]
            dist2 = ((p[:, None, :] - self.xy[None, :, :]) ** 2).sum(-1)
            idx = dist2.argmin(1)
            h = self.heading[idx]
            rel = p - self.xy[idx]
            along = rel[:, 0] * np.cos(h) + rel[:, 1] * np.sin(h)
            s_out[lo:lo + 2048] = self.s[idx] + along
            d_out[lo:lo + 2048] = -rel[:, 0] * np.sin(h) + rel[:, 1] * np.cos(h)
        s_out[(s_out < self.s_min) | (s_out > self.s_max)] = np.nan
        return s_out.reshape(np.shape(x)), d_out.reshape(np.shape(x))

    def in_corridor(self, x, y, extra=0.0):
        """Bool array (shape of ``x``): True where a global point lies on this street's road
        (+ ``extra`` metres)."""
        s, d = self.project(x, y)
        ok = ~np.isnan(s)
        res = np.zeros(np.shape(s), dtype=bool)
        lim = np.where(d < 0, self.curb(0), self.curb(1)) + extra
        res[ok] = np.abs(d[ok]) <= lim[ok]
        return res

    def band_polygon(self, s0, s1, d0, d1, step=1.0):
        """Closed polygon (list of global (x, y)) of the band s in [s0, s1], d in [d0, d1]."""
        n = max(2, int(math.ceil((s1 - s0) / step)) + 1)
        ss = np.linspace(s0, s1, n)
        xa, ya, _ = self.point(ss, np.full(n, d0))
        xb, yb, _ = self.point(ss[::-1], np.full(n, d1))
        return list(zip(np.concatenate([xa, xb]), np.concatenate([ya, yb])))

    def translate(self, dx, dy):
        """Shift the centreline by (dx, dy) metres."""
        self.xy = self.xy + np.array([dx, dy])


def _curved_street(rng, cfg, s_lo, s_hi, heading0):
    """Centreline with a sinusoidal heading profile, anchored at s = 0 (where the
    heading is ``heading0``, rad).

    Returns (s [N], xy [N, 2], heading [N]) for s in [s_lo, s_hi] (m), as ``Street``
    stores them.
    """
    amp = rng.uniform(*cfg.heading_amplitude_range) * rng.choice([-1.0, 1.0])
    period = rng.uniform(*cfg.heading_period_range)
    phase = rng.uniform(0, 2 * math.pi)
    # curvature = heading' <= amp * 2 pi / period; keep the radius above the minimum
    amp_max = period / (2 * math.pi * cfg.min_curve_radius)
    amp = float(np.clip(amp, -amp_max, amp_max))
    n = int(round((s_hi - s_lo) / cfg.centreline_step)) + 1
    s = np.linspace(s_lo, s_hi, n)
    heading = heading0 + amp * (np.sin(2 * math.pi * s / period + phase) - math.sin(phase))
    ds = np.diff(s)
    hm = 0.5 * (heading[1:] + heading[:-1])
    x = np.concatenate([[0.0], np.cumsum(np.cos(hm) * ds)])
    y = np.concatenate([[0.0], np.cumsum(np.sin(hm) * ds)])
    i0 = int(np.argmin(np.abs(s)))
    xy = np.stack([x - x[i0], y - y[i0]], axis=1)
    return s, xy, heading


# --------------------------------------------------------------------------
# Ground raster
# --------------------------------------------------------------------------
class GroundRaster:
    """Ground label codes (``config.GROUND_*``) on a regular global grid.

    ``codes`` is uint8 [ny, nx]; cell (iy, ix) covers global
    x in [ix * res, (ix + 1) * res), y in [iy * res, (iy + 1) * res).
    Points outside the raster are terrain.
    """

    def __init__(self, width_m, height_m, res):
        self.res = res
        self.nx = int(math.ceil(width_m / res))
        self.ny = int(math.ceil(height_m / res))
        self._img = Image.new('L', (self.nx, self.ny), config.GROUND_TERRAIN)
        self._draw = ImageDraw.Draw(self._img)
        self.codes = None       # set by finish()

    def fill(self, polygon, code):
        """Paint ``polygon`` (list of global (x, y), m) with ground code ``code``."""
        pts = [(x / self.res - 0.5, y / self.res - 0.5) for x, y in polygon]
        self._draw.polygon(pts, fill=int(code))

    def finish(self):
        self.codes = np.asarray(self._img, dtype=np.uint8).copy()
        self._img = self._draw = None

    def lookup(self, x, y):
        """uint8 ground codes (shape of ``x``) at global points ``x``, ``y`` (m)."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        ix = np.floor(x / self.res).astype(np.int64)
        iy = np.floor(y / self.res).astype(np.int64)
        inside = (ix >= 0) & (ix < self.nx) & (iy >= 0) & (iy < self.ny)
        out = np.full(x.shape, config.GROUND_TERRAIN, dtype=np.uint8)
        out[inside] = self.codes[iy[inside], ix[inside]]
        return out

    def map_png_array(self):
        """Driveable-surface mask as the devkit's MapMask expects: uint8 0/255,
        row 0 at the largest global y, 0.1 m per pixel."""
        road = self.codes >= config.GROUND_ROAD
        return np.ascontiguousarray(np.flipud(road).astype(np.uint8) * 255)


# --------------------------------------------------------------------------
# Parts and objects
# --------------------------------------------------------------------------
@dataclass
class Part:
    """A box in its object's frame: centre (m), size (l, w, h) (m), yaw offset (rad)."""
    centre: Tuple[float, float, float]
    size: Tuple[float, float, float]
    colour: Tuple[float, float, float]
    tex: int = config.TEX_PLAIN
    occ_class: Optional[int] = None     # defaults to the object's class
    yaw: float = 0.0


def _box(x0, x1, y0, y1, z0, z1, colour, tex=config.TEX_PLAIN, occ_class=None, yaw=0.0):
    """``Part`` filling [x0, x1] x [y0, y1] x [z0, z1] (object frame, m)."""
    return Part(((x0 + x1) / 2, (y0 + y1) / 2, (z0 + z1) / 2), (x1 - x0, y1 - y0, z1 - z0),
                tuple(colour), tex, occ_class, yaw)


@dataclass(eq=False)
class WorldObject:
    kind: str
    occ_class: int
    parts: List[Part]
    poses: np.ndarray            # [T, 3] x, y, yaw (global) per frame time
    present: np.ndarray          # [T] bool
    category: str = ''           # nuScenes category name; '' for stuff (not annotated)
    attribute: str = ''          # nuScenes attribute name or ''
    moving: bool = False
    box_centre: np.ndarray = field(default_factory=lambda: np.zeros(3))   # object frame
    box_size: np.ndarray = field(default_factory=lambda: np.zeros(3))     # l, w, h

    def compute_box(self):
        """Annotation box = axis-aligned (object frame) bounds of all parts."""
        lo = np.full(3, np.inf)
        hi = np.full(3, -np.inf)
        for p in self.parts:
            c, s = math.cos(p.yaw), math.sin(p.yaw)
            hl, hw, hh = (v / 2 for v in p.size)
            ex = abs(c) * hl + abs(s) * hw
            ey = abs(s) * hl + abs(c) * hw
            e = np.array([ex, ey, hh])
            lo = np.minimum(lo, np.asarray(p.centre) - e)
            hi = np.maximum(hi, np.asarray(p.centre) + e)
        self.box_centre = (lo + hi) / 2
        self.box_size = hi - lo


def _jitter(rng, colour, amount=0.06):
    c = (np.asarray(colour) * (1.0 + rng.uniform(-amount, amount))
         + rng.uniform(-amount, amount, 3) * 0.3)
    return tuple(float(v) for v in np.clip(c, 0.0, 1.0))


def _pick(rng, seq):
    return seq[int(rng.integers(len(seq)))]


def _size(rng, cfg, kind):
    """Random (l, w, h) (m) of ``kind`` from ``cfg.object_sizes``."""
    return tuple(float(rng.uniform(*r)) for r in cfg.object_sizes[kind])


# ---- templates: lists of parts in the object frame, ground at z = 0 ----
def tmpl_car(rng, l, w, h, colour):
    r, tw = 0.33, 0.22
    body_top = 0.3 + 0.45 * h
    parts = [_box(x - r, x + r, y - tw / 2, y + tw / 2, 0.0, 2 * r, config.TYRE)
             for x in (l / 2 - 0.85, -l / 2 + 0.85) for y in (w / 2 - 0.13, -w / 2 + 0.13)]
    parts.append(_box(-l / 2, l / 2, -w / 2, w / 2, 0.28, body_top, colour))
    cab = 0.55 * l
    parts.append(_box(-cab / 2 - 0.06 * l, cab / 2 - 0.06 * l, -0.45 * w, 0.45 * w, body_top, h,
                      colour, config.TEX_GLASS))
    return parts


def tmpl_truck(rng, l, w, h, colour):
    r, tw = 0.48, 0.3
    cab_l = 2.1
    parts = [_box(x - r, x + r, y - tw / 2, y + tw / 2, 0.0, 2 * r, config.TYRE)
             for x in (l / 2 - 1.0, -l / 2 + 1.1, -l / 2 + 2.2)
             for y in (w / 2 - 0.2, -w / 2 + 0.2)]
    cab_colour = _jitter(rng, _pick(rng, config.TRUCK_COLOURS))
    parts.append(_box(l / 2 - cab_l, l / 2, -w / 2, w / 2, 0.5, 1.7, cab_colour))
    parts.append(_box(l / 2 - cab_l, l / 2 - 0.15, -w / 2 + 0.05, w / 2 - 0.05, 1.7, min(h, 2.9),
                      cab_colour, config.TEX_GLASS))
    parts.append(_box(-l / 2, l / 2 - cab_l - 0.15, -w / 2, w / 2, 1.0, h, colour))
    parts.append(_box(-l / 2 + 0.3, l / 2 - cab_l, -w / 2 + 0.4, w / 2 - 0.4, 0.55, 1.0,
                      config.TYRE))
    return parts


def tmpl_bus(rng, l, w, h, colour):
    r, tw = 0.5, 0.3
    parts = [_box(x - r, x + r, y - tw / 2, y + tw / 2, 0.0, 2 * r, config.TYRE)
             for x in (l / 2 - 2.6, -l / 2 + 3.0) for y in (w / 2 - 0.2, -w / 2 + 0.2)]
    parts.append(_box(-l / 2, l / 2, -w / 2, w / 2, 0.32, h, colour, config.TEX_BUS))
    return parts


def tmpl_trailer(rng, l, w, h, colour):
    r, tw = 0.48, 0.3
    parts = [_box(x - r, x + r, y - tw / 2, y + tw / 2, 0.0, 2 * r, config.TYRE)
             for x in (-l / 2 + 1.2, -l / 2 + 2.3) for y in (w / 2 - 0.2, -w / 2 + 0.2)]
    parts.append(_box(-l / 2, l / 2, -w / 2, w / 2, 1.05, h, colour))
    parts.append(_box(l / 2 - 1.6, l / 2 - 1.3, -0.6, 0.6, 0.0, 1.05, config.POLE))
    return parts


def tmpl_construction(rng, l, w, h, colour):
    parts = [_box(-l / 2, l / 2 - 1.2, y - 0.3, y + 0.3, 0.0, 0.8, config.TYRE)
             for y in (w / 2 - 0.3, -w / 2 + 0.3)]
    parts.append(_box(-l / 2, l / 2 - 1.2, -w / 2 + 0.6, w / 2 - 0.6, 0.3, 0.8, config.TYRE))
    parts.append(_box(-l / 2 + 0.2, l / 2 - 1.4, -w / 2 + 0.05, w / 2 - 0.05, 0.8, 1.7, colour))
    parts.append(_box(-l / 2 + 0.5, -l / 2 + 2.3, 0.0, w / 2 - 0.1, 1.7, h, colour,
                      config.TEX_GLASS))
    parts.append(_box(-l / 2 + 2.4, l / 2 - 0.3, -0.25, 0.25, h - 0.9, h - 0.4, colour))
    parts.append(_box(l / 2 - 1.3, l / 2, -w / 2 + 0.2, w / 2 - 0.2, 0.2, 1.1, config.POLE))
    return parts


def tmpl_motorcycle(rng, l, w, h, colour, rider, clothes, skin):
    r = 0.31
    parts = [_box(x - r, x + r, -0.07, 0.07, 0.0, 2 * r, config.TYRE)
             for x in (l / 2 - r, -l / 2 + r)]
    parts.append(_box(-l / 2 + 0.45, l / 2 - 0.45, -0.2, 0.2, 0.35, 0.95, colour))
    parts.append(_box(l / 2 - 0.55, l / 2 - 0.45, -w / 2, w / 2, 0.95, 1.05, config.POLE))
    if rider:
        parts.append(_box(-0.35, 0.05, -0.22, 0.22, 0.75, h - 0.28, clothes))
        parts.append(_box(-0.27, -0.03, -0.12, 0.12, h - 0.28, h, skin))
    return parts


def tmpl_bicycle(rng, l, w, h, colour):
    r = 0.33
    parts = [_box(x - r, x + r, -0.04, 0.04, 0.0, 2 * r, config.TYRE)
             for x in (l / 2 - r, -l / 2 + r)]
    parts.append(_box(-l / 2 + r, l / 2 - r, -0.04, 0.04, 0.55, 0.65, colour))
    parts.append(_box(-0.25, -0.17, -0.04, 0.04, 0.3, h - 0.1, colour))
    parts.append(_box(-0.35, -0.07, -0.09, 0.09, h - 0.1, h - 0.04, config.TYRE))
    parts.append(_box(l / 2 - r - 0.05, l / 2 - r + 0.03, -w / 2, w / 2, h - 0.08, h, config.POLE))
    return parts


def tmpl_pedestrian(rng, l, w, h, clothes, pants, skin):
    return [_box(-0.3 * l, 0.3 * l, -0.3 * w, 0.3 * w, 0.0, 0.47 * h, pants),
            _box(-0.5 * l, 0.5 * l, -0.5 * w, 0.5 * w, 0.47 * h, 0.86 * h, clothes),
            _box(-0.2 * l, 0.2 * l, -0.17, 0.17, 0.86 * h, h, skin)]


def tmpl_barrier(rng, l, w, h):
    white = (0.9, 0.9, 0.88)
    return [_box(-l / 2, l / 2, y - 0.15, y + 0.15, 0.0, 0.12, white)
            for y in (w / 2 - 0.2, -w / 2 + 0.2)] + \
           [_box(-0.05, 0.05, y - 0.04, y + 0.04, 0.12, h - 0.3, white)
            for y in (w / 2 - 0.2, -w / 2 + 0.2)] + \
           [_box(-0.07, 0.07, -w / 2, w / 2, h - 0.45, h, config.BARRIER_RED, config.TEX_STRIPES)]


def tmpl_cone(rng, l, w, h):
    return [_box(-l / 2, l / 2, -w / 2, w / 2, 0.0, 0.05, config.TYRE),
            _box(-0.32 * l, 0.32 * l, -0.32 * w, 0.32 * w, 0.05, 0.55 * h, config.CONE_ORANGE,
                 config.TEX_CONE),
            _box(-0.17 * l, 0.17 * l, -0.17 * w, 0.17 * w, 0.55 * h, h, config.CONE_ORANGE,
                 config.TEX_CONE)]


def tmpl_bin(rng, l, w, h, colour):
    return [_box(-l / 2, l / 2, -w / 2, w / 2, 0.0, 0.88 * h, colour),
            _box(-l / 2, l / 2, -w / 2, w / 2, 0.88 * h, h, tuple(0.6 * c for c in colour))]


# Kinds that become annotated things: kind -> (Occ3D class, nuScenes category)
THING_KINDS = {
    'car': (OCC['car'], 'vehicle.car'),
    'truck': (OCC['truck'], 'vehicle.truck'),
    'bus': (OCC['bus'], 'vehicle.bus.rigid'),
    'trailer': (OCC['trailer'], 'vehicle.trailer'),
    'construction_vehicle': (OCC['construction_vehicle'], 'vehicle.construction'),
    'motorcycle': (OCC['motorcycle'], 'vehicle.motorcycle'),
    'bicycle': (OCC['bicycle'], 'vehicle.bicycle'),
    'pedestrian': (OCC['pedestrian'], 'human.pedestrian.adult'),
    'barrier': (OCC['barrier'], 'movable_object.barrier'),
    'traffic_cone': (OCC['traffic_cone'], 'movable_object.trafficcone'),
    'bin': (OCC['others'], 'movable_object.pushable_pullable'),
}
VEHICLE_KINDS = ('car', 'truck', 'bus', 'trailer', 'construction_vehicle')


# --------------------------------------------------------------------------
# The world
# --------------------------------------------------------------------------
@dataclass
class Ego:
    """Ego trajectory: rear-axle position (global, z = 0) and yaw per frame time."""
    xy: np.ndarray     # [T, 2]
    yaw: np.ndarray    # [T]


@dataclass
class WorldState:
    """All parts at one frame time, in the global frame (float64 arrays, P parts).

    centre [P, 3] m, half [P, 3] m (half length, half width, half height),
    yaw [P] rad, valid [P] bool (object present at this time).
    """
    centre: np.ndarray
    half: np.ndarray
    yaw: np.ndarray
    valid: np.ndarray


@dataclass(eq=False)
class World:
    """One scene's world, ready to be sampled at its frame times.

    ``times`` [T] seconds since the scene start (sorted, keyframes and sweeps).
    Part attribute arrays (P parts): ``part_obj`` int32 owner index,
    ``part_local`` [P, 3] centre in the owner frame, ``part_half`` [P, 3],
    ``part_yaw`` [P] yaw offset, ``part_colour`` [P, 3] float64 albedo,
    ``part_tex`` int32 texture program, ``part_seed`` int64 texture seed,
    ``part_class`` int32 Occ3D class, ``part_instance`` int32 (0 for stuff).
    """
    cfg: WorldConfig
    times: np.ndarray
    streets: List[Street]
    raster: GroundRaster
    ego: Ego
    objects: List[WorldObject]
    sun: np.ndarray                 # unit vector towards the sun (global)
    description: str
    part_obj: np.ndarray = None
    part_local: np.ndarray = None
    part_half: np.ndarray = None
    part_yaw: np.ndarray = None
    part_colour: np.ndarray = None
    part_tex: np.ndarray = None
    part_seed: np.ndarray = None
    part_class: np.ndarray = None
    part_instance: np.ndarray = None
    obj_instance: np.ndarray = None   # [O] scene-local instance id, 0 for stuff

    def finalize(self, rng):
        obj_idx, local, half, yaw, colour, tex, cls, inst = [], [], [], [], [], [], [], []
        self.obj_instance = np.zeros(len(self.objects), dtype=np.int32)
        next_id = 1
        for oi, obj in enumerate(self.objects):
            if obj.category:
                self.obj_instance[oi] = next_id
                next_id += 1
            for p in obj.parts:
                obj_idx.append(oi)
                local.append(p.centre)
                half.append([v / 2 for v in p.size])
                yaw.append(p.yaw)
                colour.append(p.colour)
                tex.append(p.tex)
                cls.append(obj.occ_class if p.occ_class is None else p.occ_class)
                inst.append(self.obj_instance[oi])
        self.part_obj = np.asarray(obj_idx, dtype=np.int64)
        self.part_local = np.asarray(local, dtype=np.float64).reshape(-1, 3)
        self.part_half = np.asarray(half, dtype=np.float64).reshape(-1, 3)
        self.part_yaw = np.asarray(yaw, dtype=np.float64)
        self.part_colour = np.asarray(colour, dtype=np.float64).reshape(-1, 3)
        self.part_tex = np.asarray(tex, dtype=np.int32)
        self.part_seed = rng.integers(0, 2 ** 31 - 1, size=len(obj_idx)).astype(np.int64)
        self.part_class = np.asarray(cls, dtype=np.int32)
        self.part_instance = np.asarray(inst, dtype=np.int32)
        self._poses = np.stack([o.poses for o in self.objects])          # [O, T, 3]
        self._present = np.stack([o.present for o in self.objects])      # [O, T]

    def state(self, ti):
        """Parts in the global frame at frame index ``ti``, as a ``WorldState``."""
        pose = self._poses[self.part_obj, ti]          # [P, 3]
        c, s = np.cos(pose[:, 2]), np.sin(pose[:, 2])
        lx, ly = self.part_local[:, 0], self.part_local[:, 1]
        centre = np.stack([pose[:, 0] + c * lx - s * ly, pose[:, 1] + s * lx + c * ly,
                           self.part_local[:, 2]], axis=1)
        return WorldState(centre, self.part_half, pose[:, 2] + self.part_yaw,
                          self._present[self.part_obj, ti].copy())

    def object_poses(self, ti):
        """float64 [O, 3]: every object's pose (x, y global, m; yaw, rad) at frame index ``ti``."""
        return self._poses[:, ti]

    def object_present(self, ti):
        """bool [O]: which objects exist at frame index ``ti``."""
        return self._present[:, ti]

    def ego_pose(self, ti):
        """Ego (rear axle) global translation [3] and yaw at frame index ``ti``."""
        return np.array([self.ego.xy[ti, 0], self.ego.xy[ti, 1], 0.0]), float(self.ego.yaw[ti])

    def annotations(self, ti):
        """Things present within ``annotation_range`` of the ego at frame ``ti``.

        A list of dicts, each: obj (index), instance (id), kind, category, attribute,
        centre [3] global (m), size [w, l, h] (m, nuScenes order), yaw (rad).
        """
        out = []
        ex, ey = self.ego.xy[ti]
        for oi, obj in enumerate(self.objects):
            if not obj.category or not obj.present[ti]:
                continue
            x, y, yaw = obj.poses[ti]
            c, s = math.cos(yaw), math.sin(yaw)
            bx, by, bz = obj.box_centre
            cx, cy = x + c * bx - s * by, y + s * bx + c * by
            if math.hypot(cx - ex, cy - ey) > self.cfg.annotation_range:
                continue
            l, w, h = obj.box_size
            out.append(dict(obj=oi, instance=int(self.obj_instance[oi]), kind=obj.kind,
                            category=obj.category, attribute=obj.attribute,
                            centre=np.array([cx, cy, bz]), size=[float(w), float(l), float(h)],
                            yaw=float(yaw)))
        return out


class _Footprints:
    """Static 2-D footprints with a z range, for rejecting overlapping placements."""

    def __init__(self):
        self.rows = []          # (x, y, yaw, hl, hw, z0, z1) float tuples
        self._array = None      # rows as a float [F, 7] array, built on demand

    def add(self, x, y, yaw, hl, hw, z0, z1):
        self.rows.append((float(x), float(y), float(yaw), float(hl), float(hw), float(z0),
                          float(z1)))
        self._array = None

    def hits(self, x, y, yaw, hl, hw, z0, z1, margin=0.0):
        """Does a box grown by ``margin`` (x, y, yaw may be [T] arrays of poses) overlap a
        footprint?"""
        if not self.rows:
            return False
        if self._array is None:
            self._array = np.asarray(self.rows)
        a = self._array
        a = a[(a[:, 5] < z1) & (a[:, 6] > z0)]
        if len(a) == 0:
            return False
        x, y, yaw = (np.atleast_1d(np.asarray(v, dtype=np.float64))[:, None] for v in (x, y, yaw))
        return bool(obb_overlap(x, y, yaw, hl + margin, hw + margin, a[:, 0], a[:, 1], a[:, 2],
                                a[:, 3], a[:, 4]).any())


class WorldBuilder:
    """Builds a ``World`` for one scene; all randomness from the given Generator.

    ``cfg`` ``WorldConfig``, ``rng`` ``np.random.Generator``, ``times`` [T] frame times (s).
    """

    def __init__(self, cfg, rng, times):
        self.cfg = cfg
        self.rng = rng
        self.times = np.asarray(times, dtype=np.float64)
        self.T = len(self.times)
        self.objects = []                    # WorldObject list
        self.static = _Footprints()          # stuff + static things (part level)
        self.buildings = _Footprints()
        # per accepted moving thing: (box x, y, yaw [T, 3], present [T], hl, hw, z0, z1)
        self.moving_boxes = []
        self.features = []                   # scene description phrases

    # ---------------- helpers ----------------
    def _static_pose(self, x, y, yaw):
        return (np.tile(np.array([x, y, yaw], dtype=np.float64), (self.T, 1)),
                np.ones(self.T, dtype=bool))

    def _part_footprints(self, parts, x, y, yaw):
        """Footprint tuples (x, y, yaw, hl, hw, z0, z1) of ``parts`` (``Part`` sequence) at
        the object pose (x, y, yaw)."""
        c, s = math.cos(yaw), math.sin(yaw)
        for p in parts:
            px, py, pz = p.centre
            yield (x + c * px - s * py, y + s * px + c * py, yaw + p.yaw,
                   p.size[0] / 2, p.size[1] / 2, pz - p.size[2] / 2, pz + p.size[2] / 2)

    def add_stuff(self, kind, occ_class, parts, x, y, yaw, block=True, check=False,
                  margin=0.0):
        """Add a static stuff object; with ``check`` refuse it if it overlaps anything.
        Returns True if it was added."""
        fps = list(self._part_footprints(parts, x, y, yaw))
        if check and any(self.static.hits(*f, margin=margin) for f in fps):
            return False
        if check and any(self._moving_hit(f, margin) for f in fps):
            return False
        poses, present = self._static_pose(x, y, yaw)
        self.objects.append(WorldObject(kind, occ_class, list(parts), poses, present))
        if block:
            for f in fps:
                self.static.add(*f)
        return True

    def _moving_hit(self, fp, margin=0.0):
        """Does a static footprint (grown by ``margin``) overlap any accepted moving thing at
        any time?"""
        x, y, yaw, hl, hw, z0, z1 = fp
        for poses, present, mhl, mhw, mz0, mz1 in self.moving_boxes:
            if not (mz0 < z1 and mz1 > z0):
                continue
            hit = obb_overlap(x, y, yaw, hl + margin, hw + margin, poses[:, 0], poses[:, 1],
                              poses[:, 2], mhl, mhw)
            if np.any(hit & present):
                return True
        return False

    def _ego_hit(self, poses, present, hl, hw):
        cfg = self.cfg
        ego_c = self.ego.xy + cfg.ego_rear_axle_to_centre * np.stack([np.cos(self.ego.yaw),
                                                                      np.sin(self.ego.yaw)], 1)
        hit = obb_overlap(ego_c[:, 0], ego_c[:, 1], self.ego.yaw,
                          cfg.ego_size[0] / 2 + cfg.ego_clearance[0],
                          cfg.ego_size[1] / 2 + cfg.ego_clearance[1],
                          poses[:, 0], poses[:, 1], poses[:, 2], hl, hw)
        return bool(np.any(hit & present))

    def add_thing(self, kind, parts, poses, present, attribute='', moving=False,
                  clearance=None):
        """Add an annotated object if it collides with nothing (static, moving, ego);
        returns True if it was added.

        ``clearance`` = (along, across) metres of free space required around
        the object's box (default ``cfg.static_clearance``).
        """
        clearance = self.cfg.static_clearance if clearance is None else clearance
        occ_class, category = THING_KINDS[kind]
        obj = WorldObject(kind, occ_class, list(parts), poses, present, category, attribute, moving)
        obj.compute_box()
        if not present.any():
            return False
        l, w, h = obj.box_size
        bx, by, bz = obj.box_centre
        c, s = np.cos(poses[:, 2]), np.sin(poses[:, 2])
        centres = np.stack([poses[:, 0] + c * bx - s * by, poses[:, 1] + s * bx + c * by,
                            poses[:, 2]], 1)
        z0, z1 = bz - h / 2, bz + h / 2
        ql, qw = l / 2 + clearance[0], w / 2 + clearance[1]
        if self._ego_hit(centres, present, ql, qw):
            return False
        # never visible: more than the render distance from the ego at all times
        dist = np.hypot(centres[:, 0] - self.ego.xy[:, 0], centres[:, 1] - self.ego.xy[:, 1])
        if np.all(dist[present] > self.cfg.render_distance):
            return False
        sel = centres[present] if moving else centres[:1]
        if self.static.hits(sel[:, 0], sel[:, 1], sel[:, 2], ql, qw, z0, z1):
            return False
        for mposes, mpresent, mhl, mhw, mz0, mz1 in self.moving_boxes:
            if not (mz0 < z1 and mz1 > z0):
                continue
            hit = obb_overlap(centres[:, 0], centres[:, 1], centres[:, 2], ql, qw,
                              mposes[:, 0], mposes[:, 1], mposes[:, 2], mhl, mhw)
            if np.any(hit & present & mpresent):
                return False
        self.objects.append(obj)
        if moving:
            self.moving_boxes.append((centres, present, l / 2, w / 2, z0, z1))
        else:
            self.static.add(centres[0, 0], centres[0, 1], centres[0, 2], l / 2, w / 2, z0, z1)
        return True

    # ---------------- top level ----------------
    def build(self):
        cfg, rng = self.cfg, self.rng
        self._make_ego_profile()
        self._make_streets()
        self._make_raster()
        self._make_ego_trajectory()
        for street in self.streets:
            self._make_sidewalk_slabs(street)
        for street in self.streets:
            self._make_buildings(street)
        for street in self.streets:
            self._make_poles_and_trees(street)
        self._make_construction()
        for street in self.streets:
            self._make_parked(street)
        for si, street in enumerate(self.streets):
            self._make_traffic(street, main=(si == 0))
        for street in self.streets:
            self._make_sidewalk_life(street)
        elev = rng.uniform(*cfg.sun_elevation_range)
        azim = rng.uniform(0, 2 * math.pi)
        sun = np.array([math.cos(elev) * math.cos(azim), math.cos(elev) * math.sin(azim),
                        math.sin(elev)])
        n_things = sum(1 for o in self.objects if o.category)
        desc = (f"Toy town, {self.streets[0].lanes_per_direction} lane(s) per direction"
                + (", " + ", ".join(self.features) if self.features else "")
                + f", {n_things} annotated objects")
        world = World(cfg, self.times, self.streets, self.raster, self.ego, self.objects, sun, desc)
        world.finalize(rng)
        return world

    # ---------------- ego ----------------
    def _make_ego_profile(self):
        cfg, rng = self.cfg, self.rng
        vlo, vhi = cfg.ego_speed_range
        vmean = rng.uniform(vlo + 0.3 * (vhi - vlo), vhi - 0.3 * (vhi - vlo))
        amp = rng.uniform(0.3, 1.0) * min(vmean - vlo, vhi - vmean)
        period = rng.uniform(*cfg.ego_speed_period_range)
        phase = rng.uniform(0, 2 * math.pi)
        t = self.times
        w = 2 * math.pi / period
        self._ego_s = vmean * t - amp / w * (np.cos(w * t + phase) - math.cos(phase))
        self._ego_v = vmean + amp * np.sin(w * t + phase)
        self.path_length = float(self._ego_s[-1]) if len(t) else 0.0

    def _make_ego_trajectory(self):
        cfg, rng, main = self.cfg, self.rng, self.streets[0]
        lanes = main.lanes_per_direction
        start_lane = int(rng.integers(lanes))
        d_a = -(start_lane + 0.5) * main.lane_width
        d_e = np.full(self.T, d_a)
        dd = np.zeros(self.T)
        duration = float(self.times[-1]) if self.T else 0.0
        if lanes > 1 and rng.random() < cfg.lane_change_prob and duration > 0.5:
            target = 1 - start_lane if lanes == 2 else start_lane + 1
            d_b = -(target + 0.5) * main.lane_width
            dur = cfg.lane_change_duration
            t0 = rng.uniform(-0.3 * dur, max(duration - 0.7 * dur, 0.0))
            u = np.clip((self.times - t0) / dur, 0.0, 1.0)
            d_e = d_a + (d_b - d_a) * (3 * u ** 2 - 2 * u ** 3)
            dd = (d_b - d_a) * (6 * u - 6 * u ** 2) / dur
            self.features.append('ego lane change')
        x, y, h = main.point(self._ego_s, d_e)
        yaw = h + np.arctan2(dd, self._ego_v)
        self.ego = Ego(np.stack([x, y], axis=1), yaw)
        self._ego_d = d_e

    # ---------------- streets and ground ----------------
    def _make_streets(self):
        cfg, rng = self.cfg, self.rng

        def cross_section(lanes):
            return dict(lanes_per_direction=lanes, lane_width=cfg.lane_width,
                        parking=(bool(rng.random() < cfg.parking_lane_prob),
                                 bool(rng.random() < cfg.parking_lane_prob)),
                        parking_width=cfg.parking_lane_width,
                        sidewalk_width=float(rng.uniform(*cfg.sidewalk_width_range)))

        heading0 = rng.uniform(-math.pi, math.pi)
        s, xy, heading = _curved_street(rng, cfg, -cfg.road_margin_behind,
                                        self.path_length + cfg.road_margin_ahead, heading0)
        lanes = int(_pick(rng, cfg.lanes_per_direction_choices))
        main = Street(s, xy, heading, **cross_section(lanes))
        self.streets = [main]
        if rng.random() < cfg.cross_street_prob:
            frac, ahead = cfg.cross_street_position
            s_x = rng.uniform(*frac) * self.path_length + rng.uniform(*ahead)
            angle = rng.uniform(*cfg.cross_street_angle_range) * rng.choice([-1.0, 1.0])
            x0, y0, h0 = main.frame(s_x)
            hc = float(h0) + angle
            L = cfg.cross_street_half_length
            n = int(round(2 * L / cfg.centreline_step)) + 1
            cs = np.linspace(-L, L, n)
            cxy = np.stack([x0 + cs * math.cos(hc), y0 + cs * math.sin(hc)], axis=1)
            self.streets.append(Street(cs, cxy, np.full(n, hc), **cross_section(1)))
            self.features.append('cross street')
        # Shift everything so the global frame has the raster (and the map png)
        # starting at (0, 0), as nuScenes global coordinates are map pixels * res.
        reach = (max(st.sidewalk_outer(side) for st in self.streets for side in SIDES)
                 + max(cfg.lot_setback_range[1] + cfg.building_depth_range[1], cfg.lot_open_depth)
                 + cfg.map_padding)
        allxy = np.concatenate([st.xy for st in self.streets])
        lo = allxy.min(0) - reach
        hi = allxy.max(0) + reach
        for st in self.streets:
            st.translate(-lo[0], -lo[1])
        self.raster = GroundRaster(hi[0] - lo[0], hi[1] - lo[1], cfg.map_resolution)

    def _other_corridor(self, street, x, y, extra):
        """Bool array (shape of ``x``): on the road (+ ``extra`` m) of a street other than
        ``street``."""
        res = np.zeros(np.shape(x), dtype=bool)
        for other in self.streets:
            if other is not street:
                res |= other.in_corridor(x, y, extra)
        return res

    def _make_raster(self):
        cfg, rng = self.cfg, self.rng
        R = self.raster
        self.lots = {}     # (street index, side) -> list of lot dicts
        # 1. lots behind the sidewalks (terrain / other_flat zones)
        for si, st in enumerate(self.streets):
            for side in SIDES:
                sign = SIDE_SIGN[side]
                lots = []
                s = st.s_min
                while s < st.s_max:
                    length = rng.uniform(*cfg.lot_length_range)
                    s1 = min(s + length, st.s_max)
                    setback = (0.0 if rng.random() < cfg.lot_zero_setback_prob
                               else rng.uniform(*cfg.lot_setback_range))
                    zone = (config.GROUND_OTHER_FLAT if rng.random() < cfg.lot_other_flat_prob
                            else config.GROUND_TERRAIN)
                    building = bool(rng.random() < cfg.lot_building_prob)
                    lot = dict(s0=s, s1=s1, setback=setback, zone=zone, building=building)
                    lots.append(lot)
                    d_in = st.sidewalk_outer(side)
                    depth = setback if building else cfg.lot_open_depth
                    if depth > 0.3:
                        R.fill(st.band_polygon(s, s1, sign * d_in, sign * (d_in + depth)), zone)
                    s = s1
                self.lots[(si, side)] = lots
        # 2. sidewalks, 3. roads
        for st in self.streets:
            for side in SIDES:
                sign = SIDE_SIGN[side]
                R.fill(st.band_polygon(st.s_min, st.s_max, sign * st.curb(side),
                                       sign * st.sidewalk_outer(side)),
                       config.GROUND_SIDEWALK)
        for st in self.streets:
            R.fill(st.band_polygon(st.s_min, st.s_max, -st.curb(0), st.curb(1)), config.GROUND_ROAD)
        # 4. lane markings, skipped inside the other streets' roads (intersections)
        mw = cfg.marking_width
        for st in self.streets:
            lines = [(-0.12, config.GROUND_MARK_YELLOW, False),
                     (0.12, config.GROUND_MARK_YELLOW, False)]
            for k in range(1, st.lanes_per_direction):
                lines += [(sgn * k * st.lane_width, config.GROUND_MARK_WHITE, True)
                          for sgn in (-1.0, 1.0)]
            for side in SIDES:
                edge = st.half_drive if st.parking[side] else st.curb(side) - 0.3
                lines.append((SIDE_SIGN[side] * edge, config.GROUND_MARK_WHITE, False))
            for d, code, dashed in lines:
                period = cfg.dash_length + cfg.dash_gap if dashed else cfg.dash_length
                starts = np.arange(st.s_min, st.s_max - cfg.dash_length, period)
                mx, my, _ = st.point(starts + cfg.dash_length / 2, np.full(len(starts), d))
                skip = self._other_corridor(st, mx, my, 1.5)
                for s0, sk in zip(starts, skip):
                    if not sk:
                        R.fill(st.band_polygon(s0, s0 + cfg.dash_length, d - mw / 2, d + mw / 2),
                               code)
        # 5. crosswalks on every street where it meets another one
        for st in self.streets:
            inside = self._other_corridor(st, st.xy[:, 0], st.xy[:, 1], 0.0)
            if not inside.any():
                continue
            idx = np.nonzero(inside)[0]
            for s_edge, direction in ((st.s[idx[0]], -1.0), (st.s[idx[-1]], 1.0)):
                sc = s_edge + direction * (1.0 + cfg.crosswalk_depth / 2)
                if not (st.s_min < sc < st.s_max):
                    continue
                d = -st.curb(0) + 0.3
                while d + cfg.crosswalk_stripe < st.curb(1) - 0.3:
                    R.fill(st.band_polygon(sc - cfg.crosswalk_depth / 2,
                                           sc + cfg.crosswalk_depth / 2,
                                           d, d + cfg.crosswalk_stripe), config.GROUND_MARK_WHITE)
                    d += 2 * cfg.crosswalk_stripe
        R.finish()

    # ---------------- stuff ----------------
    def _make_sidewalk_slabs(self, st):
        """Raised slabs (curb height) covering the sidewalk bands, cut at intersections."""
        cfg = self.cfg
        step = cfg.sidewalk_slab_step
        max_len = cfg.sidewalk_slab_length
        ss = np.arange(st.s_min, st.s_max + 1e-6, step)
        for side in SIDES:
            sign = SIDE_SIGN[side]
            d_in, d_out = st.curb(side), st.sidewalk_outer(side)
            d_mid = sign * 0.5 * (d_in + d_out)
            x, y, _ = st.point(ss, np.full(len(ss), d_mid))
            keep = self.raster.lookup(x, y) == config.GROUND_SIDEWALK
            # each kept sample stands for a step-long cell; runs of cells become slabs
            i = 0
            while i < len(ss):
                if not keep[i]:
                    i += 1
                    continue
                j = i
                while j + 1 < len(ss) and keep[j + 1] and ss[j + 1] - ss[i] < max_len:
                    j += 1
                s0, s1 = ss[i] - step / 2, ss[j] + step / 2
                _, _, h0 = st.frame(s0)
                _, _, h1 = st.frame(s1)
                # close the wedge-shaped gaps that a curve opens between slabs
                ext = abs(float(h1 - h0)) * d_out + 0.02
                cx, cy, hm = st.point(0.5 * (s0 + s1), d_mid)
                part = Part((0.0, 0.0, cfg.curb_height / 2),
                            (s1 - s0 + ext, d_out - d_in, cfg.curb_height),
                            config.SIDEWALK, config.TEX_SIDEWALK)
                self.add_stuff('sidewalk', OCC['sidewalk'], [part], float(cx), float(cy), float(hm),
                               block=False)
                i = j + 1

    def _make_buildings(self, st):
        cfg, rng = self.cfg, self.rng
        si = self.streets.index(st)
        for side in SIDES:
            sign = SIDE_SIGN[side]
            for lot in self.lots[(si, side)]:
                if lot['building']:
                    setback = lot['setback']
                elif rng.random() < cfg.open_lot_back_building_prob:
                    setback = cfg.lot_open_depth      # a back row, behind the open zone
                else:
                    continue
                gap = rng.uniform(*cfg.building_gap_range)
                length = lot['s1'] - lot['s0'] - gap
                if length < 6.0:
                    continue
                depth = rng.uniform(*cfg.building_depth_range)
                height = rng.uniform(*cfg.building_height_range)
                sm = 0.5 * (lot['s0'] + lot['s1'])
                d_front = st.sidewalk_outer(side) + setback + 0.05
                cx, cy, h = st.point(sm, sign * (d_front + depth / 2))
                cx, cy, h = float(cx), float(cy), float(h)
                # footprint must stay off sidewalks and roads (curves, intersections)
                gx, gy = np.meshgrid(np.linspace(-length / 2, length / 2, max(2, int(length))),
                                     np.linspace(-depth / 2, depth / 2, max(2, int(depth))))
                wx = cx + math.cos(h) * gx - math.sin(h) * gy
                wy = cy + math.sin(h) * gx + math.cos(h) * gy
                if np.any(self.raster.lookup(wx, wy) >= config.GROUND_SIDEWALK):
                    continue
                if self.buildings.hits(cx, cy, h, length / 2, depth / 2, 0.0, height):
                    continue
                colour = _jitter(rng, _pick(rng, config.BUILDING_COLOURS))
                parts = [Part((0.0, 0.0, height / 2), (length, depth, height), colour,
                              config.TEX_FACADE)]
                if rng.random() < cfg.building_roof_box_prob:
                    rl, rw, rh = (rng.uniform(2, 0.4 * length), rng.uniform(2, 0.4 * depth),
                                  rng.uniform(1.0, 2.5))
                    centre = (rng.uniform(-0.2, 0.2) * length, rng.uniform(-0.2, 0.2) * depth,
                              height + rh / 2)
                    parts.append(Part(centre, (rl, rw, rh), config.ROOF))
                self.add_stuff('building', OCC['manmade'], parts, cx, cy, h)
                self.buildings.add(cx, cy, h, length / 2, depth / 2, 0.0, height + 3)

    def _tree_parts(self):
        """Parts of a random tree: trunk and two crown boxes."""
        cfg, rng = self.cfg, self.rng
        th = rng.uniform(*cfg.tree_trunk_height_range)
        cw = rng.uniform(*cfg.tree_crown_width_range)
        ch = rng.uniform(*cfg.tree_crown_height_range)
        foliage = _jitter(rng, _pick(rng, config.FOLIAGE_COLOURS), 0.1)
        return [Part((0.0, 0.0, th / 2 + 0.2), (0.3, 0.3, th + 0.4), _jitter(rng, config.TRUNK)),
                Part((0.0, 0.0, th + 0.6 * ch / 2), (cw, cw, 0.6 * ch), foliage,
                     config.TEX_FOLIAGE),
                Part((0.0, 0.0, th + 0.6 * ch + 0.2 * ch), (0.7 * cw, 0.7 * cw, 0.4 * ch), foliage,
                     config.TEX_FOLIAGE, yaw=math.pi / 4)]

    def _make_poles_and_trees(self, st):
        cfg, rng = self.cfg, self.rng
        si = self.streets.index(st)
        for side in SIDES:
            sign = SIDE_SIGN[side]
            curb, outer = st.curb(side), st.sidewalk_outer(side)
            # street lights on the curb band, arm over the road
            s = st.s_min + rng.uniform(0, cfg.pole_spacing_range[1])
            while s < st.s_max:
                x, y, h = st.point(s, sign * (curb + cfg.curb_band_offset))
                if self.raster.lookup(x, y) == config.GROUND_SIDEWALK:
                    to_road = -sign   # object frame y points left of the street heading
                    ph = cfg.pole_height
                    parts = [_box(-0.1, 0.1, -0.1, 0.1, 0.0, ph, config.POLE),
                             _box(-0.06, 0.06, *sorted((0.0, to_road * 1.8)), ph - 0.25, ph - 0.12,
                                  config.POLE),
                             _box(-0.2, 0.2, *sorted((to_road * 1.5, to_road * 2.1)), ph - 0.4,
                                  ph - 0.25, (0.85, 0.85, 0.7))]
                    self.add_stuff('pole', OCC['manmade'], parts, float(x), float(y), float(h),
                                   check=True)
                s += rng.uniform(*cfg.pole_spacing_range)
            # traffic signs, occasionally
            for _ in range(int(rng.poisson(cfg.signs_per_side * (st.s_max - st.s_min) / 100.0))):
                s = rng.uniform(st.s_min, st.s_max)
                x, y, h = st.point(s, sign * (curb + cfg.curb_band_offset))
                if self.raster.lookup(x, y) != config.GROUND_SIDEWALK:
                    continue
                plate = _pick(rng, ((0.1, 0.25, 0.7), (0.8, 0.1, 0.1), (0.9, 0.9, 0.9)))
                parts = [_box(-0.05, 0.05, -0.05, 0.05, 0.0, 2.2, config.POLE),
                         _box(-0.03, 0.03, -0.35, 0.35, 2.2, 2.9, plate)]
                yaw = float(h) + (0.0 if side == 0 else math.pi)
                self.add_stuff('sign', OCC['manmade'], parts, float(x), float(y), yaw, check=True)
            # street trees on the outer band of the sidewalk
            if rng.random() < cfg.street_tree_prob:
                s = st.s_min + rng.uniform(0, cfg.street_tree_spacing_range[1])
                while s < st.s_max:
                    x, y, h = st.point(s, sign * (outer - cfg.street_tree_inset))
                    if self.raster.lookup(x, y) == config.GROUND_SIDEWALK:
                        parts = self._tree_parts()
                        cw = parts[1].size[0]
                        if not self.buildings.hits(float(x), float(y), float(h), cw / 2, cw / 2, 0,
                                                   50):
                            self.add_stuff('tree', OCC['vegetation'], parts, float(x), float(y),
                                           float(h), check=True, margin=0.1)
                    s += rng.uniform(*cfg.street_tree_spacing_range)
            # trees and hedges in the lots
            for lot in self.lots[(si, side)]:
                depth = lot['setback'] if lot['building'] else cfg.lot_open_depth
                if depth < 2.5:
                    continue
                d_in = outer
                if lot['zone'] == config.GROUND_TERRAIN and rng.random() < cfg.hedge_prob:
                    length = 0.8 * (lot['s1'] - lot['s0'])
                    hh = rng.uniform(*cfg.hedge_height_range)
                    x, y, h = st.point(0.5 * (lot['s0'] + lot['s1']), sign * (d_in + 0.9))
                    if np.all(self.raster.lookup(*st.point(np.linspace(lot['s0'], lot['s1'], 8),
                                                           np.full(8, sign * (d_in + 0.9)))[:2])
                              == lot['zone']):
                        self.add_stuff('hedge', OCC['vegetation'],
                                       [Part((0.0, 0.0, hh / 2), (length, 0.9, hh),
                                             _jitter(rng, _pick(rng, config.FOLIAGE_COLOURS)),
                                             config.TEX_FOLIAGE)],
                                       float(x), float(y), float(h), check=True, margin=0.1)
                for _ in range(int(rng.integers(cfg.lot_tree_count_range[0],
                                                cfg.lot_tree_count_range[1] + 1))):
                    ts = rng.uniform(lot['s0'], lot['s1'])
                    td = d_in + rng.uniform(1.5, max(1.6, depth - 1.5))
                    x, y, h = st.point(ts, sign * td)
                    if self.raster.lookup(x, y) != lot['zone']:
                        continue
                    parts = self._tree_parts()
                    cw = parts[1].size[0]
                    if self.buildings.hits(float(x), float(y), float(h), cw / 2, cw / 2, 0, 50):
                        continue
                    self.add_stuff('tree', OCC['vegetation'], parts, float(x), float(y),
                                   float(rng.uniform(0, math.pi)), check=True, margin=0.1)

    # ---------------- things ----------------
    def _vehicle(self, kind, rider_ok=True):
        """The parts (list of Part) of a vehicle of ``kind`` with a random size and paint."""
        rng, cfg = self.rng, self.cfg
        l, w, h = _size(rng, cfg, kind)
        if kind == 'car':
            return tmpl_car(rng, l, w, h, _jitter(rng, _pick(rng, config.CAR_COLOURS)))
        if kind == 'truck':
            return tmpl_truck(rng, l, w, h, _jitter(rng, _pick(rng, config.TRUCK_COLOURS)))
        if kind == 'bus':
            return tmpl_bus(rng, l, w, h, _jitter(rng, _pick(rng, config.BUS_COLOURS)))
        if kind == 'trailer':
            return tmpl_trailer(rng, l, w, h, _jitter(rng, _pick(rng, config.TRUCK_COLOURS)))
        if kind == 'construction_vehicle':
            return tmpl_construction(rng, l, w, h, _jitter(rng, config.CONSTRUCTION_COLOUR))
        if kind == 'motorcycle':
            return tmpl_motorcycle(rng, l, w, h, _jitter(rng, _pick(rng, config.CAR_COLOURS)),
                                   rider_ok, _pick(rng, config.CLOTHES_COLOURS),
                                   _pick(rng, config.SKIN_COLOURS))
        raise ValueError(kind)

    def _pick_kind(self, mix):
        """Random kind from ``mix`` (dict kind -> weight)."""
        kinds = list(mix)
        p = np.array([mix[k] for k in kinds])
        return kinds[int(self.rng.choice(len(kinds), p=p / p.sum()))]

    def _pedestrian(self):
        rng = self.rng
        l, w, h = _size(rng, self.cfg, 'pedestrian')
        return tmpl_pedestrian(rng, l, w, h, _jitter(rng, _pick(rng, config.CLOTHES_COLOURS)),
                               _jitter(rng, _pick(rng, config.CLOTHES_COLOURS)),
                               _pick(rng, config.SKIN_COLOURS))

    def _static_thing(self, kind, parts, x, y, yaw, attribute=''):
        poses, present = self._static_pose(float(x), float(y), float(yaw))
        return self.add_thing(kind, parts, poses, present, attribute)

    def _lane_poses(self, st, s0, d, v, direction):
        """Poses [T, 3] and presence [T] of an object driving along a street lane: from
        (s0, d) at ``v`` m/s, ``direction`` +1 / -1 along s."""
        s = s0 + direction * v * self.times
        x, y, h = st.point(s, np.full(self.T, d))
        yaw = h + (0.0 if direction > 0 else math.pi)
        present = (s > st.s_min + 3.0) & (s < st.s_max - 3.0)
        return np.stack([x, y, wrap_angle(yaw)], axis=1), present

    def _make_construction(self):
        cfg, rng = self.cfg, self.rng
        if rng.random() >= cfg.construction_zone_prob:
            return
        st = self.streets[0]
        sides = [sd for sd in SIDES if st.parking[sd]]
        length = rng.uniform(*cfg.construction_zone_length_range)
        s0 = rng.uniform(cfg.construction_zone_window[0],
                         self.path_length + cfg.construction_zone_window[1])
        if sides:
            # road works in a parking lane: barrier line on the lane edge, cone tapers
            side = _pick(rng, sides)
            sign = SIDE_SIGN[side]
            d_line = sign * (st.half_drive + 0.45)
            s = s0
            while s < s0 + length:
                l, w, h = _size(rng, cfg, 'barrier')
                x, y, hd = st.point(s + w / 2, d_line)
                self._static_thing('barrier', tmpl_barrier(rng, l, w, h), x, y,
                                   float(hd) - math.pi / 2)
                s += w + 0.15
            for s_end, direction in ((s0, -1.0), (s0 + length, 1.0)):
                for k in range(4):
                    l, w, h = _size(rng, cfg, 'traffic_cone')
                    x, y, hd = st.point(s_end + direction * (1.0 + 1.5 * k),
                                        sign * (st.half_drive + 0.4 + 0.5 * k))
                    self._static_thing('traffic_cone', tmpl_cone(rng, l, w, h), x, y,
                                       rng.uniform(0, math.pi))
            self._blocked_slots = (side, s0 - 8.0, s0 + length + 8.0)
            self.features.append('road works')
        # construction site in an open lot of the main street: a construction vehicle behind
        # barriers
        lo, hi = cfg.construction_zone_window
        for side in SIDES:
            for lot in self.lots[(0, side)]:
                if lot['building'] or lot['s1'] - lot['s0'] < 14.0:
                    continue
                if not (lo < 0.5 * (lot['s0'] + lot['s1']) < self.path_length + hi):
                    continue
                sign = SIDE_SIGN[side]
                outer = st.sidewalk_outer(side)
                sm = 0.5 * (lot['s0'] + lot['s1'])
                parts = self._vehicle('construction_vehicle')
                x, y, hd = st.point(sm, sign * (outer + 7.0))
                if self.raster.lookup(x, y) != lot['zone']:
                    continue
                if not self._static_thing('construction_vehicle', parts, x, y,
                                          float(hd) + rng.uniform(-0.6, 0.6), 'vehicle.parked'):
                    continue
                s = lot['s0'] + 2.0
                while s < lot['s1'] - 3.0:
                    l, w, h = _size(rng, cfg, 'barrier')
                    x, y, hd = st.point(s + w / 2, sign * (outer + 1.0))
                    if self.raster.lookup(x, y) == lot['zone']:
                        self._static_thing('barrier', tmpl_barrier(rng, l, w, h), x, y,
                                           float(hd) - math.pi / 2)
                    s += w + 0.3
                self.features.append('construction site')
                return

    def _make_parked(self, st):
        cfg, rng = self.cfg, self.rng
        blocked = getattr(self, '_blocked_slots', None) if st is self.streets[0] else None
        for side in SIDES:
            if not st.parking[side]:
                continue
            sign = SIDE_SIGN[side]
            d = sign * (st.half_drive + cfg.parking_lane_width / 2)
            s = st.s_min + 4.0
            while s < st.s_max - 12.0:
                slot = cfg.parked_slot_length
                if blocked and blocked[0] == side and blocked[1] < s + slot and s < blocked[2]:
                    s += slot
                    continue
                if rng.random() < cfg.parked_occupancy:
                    kind = self._pick_kind(cfg.parked_vehicle_mix)
                    parts = self._vehicle(kind, rider_ok=False)
                    length = (max(p.centre[0] + p.size[0] / 2 for p in parts)
                              - min(p.centre[0] - p.size[0] / 2 for p in parts))
                    nslots = int(math.ceil((length + 0.8) / slot))
                    sc = s + nslots * slot / 2
                    x, y, h = st.point(sc, d + rng.uniform(-1, 1) * cfg.parked_lateral_jitter)
                    if not self._other_corridor(st, np.array([x]), np.array([y]), 2.0)[0]:
                        yaw = (float(h) + (0.0 if side == 0 else math.pi)
                               + rng.uniform(-1, 1) * cfg.parked_yaw_jitter)
                        attr = 'cycle.without_rider' if kind == 'motorcycle' else 'vehicle.parked'
                        self._static_thing(kind, parts, x, y, yaw, attr)
                    s += nslots * slot
                else:
                    s += slot

    def _make_traffic(self, st, main):
        cfg, rng = self.cfg, self.rng
        length = st.s_max - st.s_min
        for direction in (1.0, -1.0):
            for lane in range(st.lanes_per_direction):
                d = -direction * (lane + 0.5) * st.lane_width
                v = rng.uniform(*cfg.lane_speed_range)
                n = rng.poisson(cfg.moving_vehicles_per_lane * length / 100.0)
                s0s = np.sort(rng.uniform(st.s_min, st.s_max, n))
                for s0 in s0s:
                    kind = self._pick_kind(cfg.moving_vehicle_mix)
                    parts = self._vehicle(kind)
                    poses, present = self._lane_poses(st, s0, d, v, direction)
                    if not main and np.any(self._other_corridor(st, poses[:, 0], poses[:, 1], 1.0)
                                           & present):
                        # cross traffic would drive through the ego street; make it wait instead
                        continue
                    attr = 'cycle.with_rider' if kind == 'motorcycle' else 'vehicle.moving'
                    self.add_thing(kind, parts, poses, present, attr, moving=True,
                                   clearance=cfg.moving_vehicle_clearance)
            if not main:
                # vehicles waiting at the intersection on the cross street
                inside = self._other_corridor(st, st.xy[:, 0], st.xy[:, 1], 0.0)
                if inside.any() and rng.random() < cfg.waiting_vehicle_prob:
                    idx = np.nonzero(inside)[0]
                    s_stop = st.s[idx[0]] - 5.0 if direction > 0 else st.s[idx[-1]] + 5.0
                    d = -direction * 0.5 * st.lane_width
                    parts = self._vehicle('car')
                    x, y, h = st.point(s_stop - direction * 2.5, d)
                    yaw = float(h) + (0.0 if direction > 0 else math.pi)
                    self._static_thing('car', parts, x, y, yaw, 'vehicle.stopped')

    def _make_sidewalk_life(self, st):
        cfg, rng = self.cfg, self.rng
        length = st.s_max - st.s_min
        for side in SIDES:
            sign = SIDE_SIGN[side]
            curb, outer = st.curb(side), st.sidewalk_outer(side)
            # walking pedestrians in the middle band
            for _ in range(int(rng.poisson(cfg.walking_pedestrians_per_side * length / 100.0))):
                s0 = rng.uniform(st.s_min, st.s_max)
                d = sign * rng.uniform(curb + cfg.walk_band_inset, outer - cfg.walk_band_inset)
                v = rng.uniform(*cfg.pedestrian_speed_range)
                direction = float(rng.choice([-1.0, 1.0]))
                poses, present = self._lane_poses(st, s0, d, v, direction)
                on_walk = self.raster.lookup(poses[:, 0], poses[:, 1]) == config.GROUND_SIDEWALK
                if not np.all(on_walk | ~present):
                    continue
                self.add_thing('pedestrian', self._pedestrian(), poses, present,
                               'pedestrian.moving', moving=True,
                               clearance=cfg.pedestrian_clearance)
            # standing pedestrians: on the sidewalk or in front of buildings
            for _ in range(int(rng.poisson(cfg.standing_pedestrians_per_side * length / 100.0))):
                s0 = rng.uniform(st.s_min, st.s_max)
                d = sign * rng.uniform(curb + 0.6, outer + 2.0)
                x, y, _ = st.point(s0, d)
                code = self.raster.lookup(x, y)
                if code not in (config.GROUND_SIDEWALK, config.GROUND_OTHER_FLAT,
                                config.GROUND_TERRAIN):
                    continue
                self._static_thing('pedestrian', self._pedestrian(), x, y,
                                   rng.uniform(-math.pi, math.pi), 'pedestrian.standing')
            # parked bicycles and bins along the curb band
            for _ in range(int(rng.poisson(cfg.bicycle_groups_per_side * length / 100.0))):
                s = rng.uniform(st.s_min, st.s_max)
                for k in range(int(rng.integers(1, 4))):
                    l, w, h = _size(rng, cfg, 'bicycle')
                    x, y, hd = st.point(s + k * 1.9, sign * (curb + cfg.curb_band_offset))
                    if self.raster.lookup(x, y) != config.GROUND_SIDEWALK:
                        continue
                    self._static_thing('bicycle',
                                       tmpl_bicycle(rng, l, w, h, _pick(rng, config.CAR_COLOURS)),
                                       x, y, float(hd) + rng.uniform(-0.1, 0.1),
                                       'cycle.without_rider')
            for _ in range(int(rng.poisson(cfg.bins_per_side * length / 100.0))):
                s = rng.uniform(st.s_min, st.s_max)
                x, y, hd = st.point(s, sign * (curb + cfg.curb_band_offset))
                if self.raster.lookup(x, y) != config.GROUND_SIDEWALK:
                    continue
                l, w, h = _size(rng, cfg, 'bin')
                self._static_thing('bin', tmpl_bin(rng, l, w, h, _pick(rng, config.BIN_COLOURS)),
                                   x, y, float(hd))


def build_world(cfg, rng, times):
    """Generate one scene's ``World`` for frame ``times`` ([T], seconds from scene start)
    from ``cfg`` (``WorldConfig``) and ``rng`` (``np.random.Generator``)."""
    return WorldBuilder(cfg, rng, times).build()
