"""Small rigid-transform and oriented-box helpers (numpy, float64).

Quaternions follow nuScenes / pyquaternion: ``(w, x, y, z)``, unit norm,
rotating vectors from the child frame into the parent frame.
"""
import math

import numpy as np


def rot_z(yaw):
    """3x3 rotation (float64 ndarray) by ``yaw`` radians about +z."""
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def quat_yaw(yaw):
    """Quaternion (w, x, y, z) of a rotation about +z, as a JSON-ready list."""
    return [math.cos(yaw / 2.0), 0.0, 0.0, math.sin(yaw / 2.0)]


def quat_from_matrix(m):
    """Quaternion (w, x, y, z) with w >= 0, as a list, of a 3x3 rotation matrix."""
    m = np.asarray(m, dtype=np.float64)
    tr = m[0, 0] + m[1, 1] + m[2, 2]
    if tr > 0:
        s = math.sqrt(tr + 1.0) * 2.0
        q = [0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s]
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = math.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2]) * 2.0
        q = [(m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s]
    elif m[1, 1] > m[2, 2]:
        s = math.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2]) * 2.0
        q = [(m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s]
    else:
        s = math.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1]) * 2.0
        q = [(m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s]
    q = np.array(q)
    q /= np.linalg.norm(q)
    if q[0] < 0:
        q = -q
    return [float(v) for v in q]


def matrix_from_quat(q):
    """3x3 rotation matrix (float64 ndarray) of a (w, x, y, z) quaternion (4 floats)."""
    w, x, y, z = (float(v) for v in q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def wrap_angle(a):
    """Wrap angles (scalar or array) to [-pi, pi)."""
    return (np.asarray(a) + np.pi) % (2 * np.pi) - np.pi


def obb_overlap(cx, cy, yaw, hl, hw, ocx, ocy, oyaw, ohl, ohw):
    """Separating-axis test between 2-D oriented rectangles (broadcasting).

    A rectangle is its centre (cx, cy), heading ``yaw`` (its length axis) and
    half length / half width.  Returns a bool array: True where they overlap.
    """
    cx, cy, yaw, hl, hw = (np.asarray(v, dtype=np.float64) for v in (cx, cy, yaw, hl, hw))
    ocx, ocy, oyaw, ohl, ohw = (np.asarray(v, dtype=np.float64) for v in (ocx, ocy, oyaw, ohl, ohw))
    dx, dy = ocx - cx, ocy - cy
    ca, sa, cb, sb = np.cos(yaw), np.sin(yaw), np.cos(oyaw), np.sin(oyaw)
    separated = np.zeros(np.broadcast(dx, ca, cb, hl, ohl).shape, dtype=bool)
    for ux, uy in ((ca, sa), (-sa, ca), (cb, sb), (-sb, cb)):
        ra = hl * np.abs(ux * ca + uy * sa) + hw * np.abs(-ux * sa + uy * ca)
        rb = ohl * np.abs(ux * cb + uy * sb) + ohw * np.abs(-ux * sb + uy * cb)
        separated |= np.abs(ux * dx + uy * dy) > ra + rb
    return ~separated


def points_in_obb(points, centre, yaw, half_size):
    """Bool mask [N] of ``points`` (ndarray [N, 3]) inside a 3-D box: ``centre`` [3],
    ``yaw`` (float, rad) about +z, half extents ``half_size`` [3]."""
    centre = np.asarray(centre, dtype=np.float64)
    half_size = np.asarray(half_size, dtype=np.float64)
    r = float(np.hypot(half_size[0], half_size[1]))
    # cheap square pre-filter; only candidates get rotated
    cand = np.nonzero((np.abs(points[:, 0] - centre[0]) <= r)
                      & (np.abs(points[:, 1] - centre[1]) <= r))[0]
    out = np.zeros(len(points), dtype=bool)
    local = (points[cand] - centre) @ rot_z(yaw)
    out[cand] = np.all(np.abs(local) <= half_size, axis=1)
    return out
