"""Camera and LiDAR rigs with nuScenes conventions.

* Camera frame: x right, y down, z forward (optical axis); pixel (u, v) =
  (fx x / z + cx, fy y / z + cy), pixel centres at integer coordinates.
* LIDAR_TOP frame: z up; nuScenes mounts the sensor rotated -90 deg about z,
  so lidar +x points to the ego's right and lidar +y forward.
* ``R_se`` / ``t_se``: sensor -> ego rotation (3x3) and translation (m), the
  ``calibrated_sensor`` record of nuScenes.
"""
import math
from dataclasses import dataclass

import numpy as np

from .geometry import quat_from_matrix, rot_z

NUSCENES_WIDTH, NUSCENES_HEIGHT = 1600, 900


@dataclass
class Camera:
    channel: str
    width: int
    height: int
    K: np.ndarray        # [3, 3] float64 intrinsics for width x height pixels
    R_se: np.ndarray     # [3, 3] camera -> ego
    t_se: np.ndarray     # [3] camera origin in ego, m

    @property
    def fx(self):
        return float(self.K[0, 0])

    @property
    def fy(self):
        return float(self.K[1, 1])

    @property
    def cx(self):
        return float(self.K[0, 2])

    @property
    def cy(self):
        return float(self.K[1, 2])

    def ray_directions(self, nu, nv):
        """Unit ray directions, float64 [nv * nu, 3] in the ego frame, through an evenly
        spaced ``nu`` x ``nv`` grid of points covering the image."""
        u = (np.arange(nu) + 0.5) * self.width / nu - 0.5
        v = (np.arange(nv) + 0.5) * self.height / nv - 0.5
        uu, vv = np.meshgrid(u, v)
        d = np.stack([(uu - self.cx) / self.fx, (vv - self.cy) / self.fy, np.ones_like(uu)],
                     -1).reshape(-1, 3)
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        return d @ self.R_se.T


def camera_rotation(yaw):
    """Camera -> ego rotation [3, 3] for a level camera looking along ego yaw ``yaw`` (rad)."""
    c, s = math.cos(yaw), math.sin(yaw)
    x_axis = [s, -c, 0.0]          # image right
    y_axis = [0.0, 0.0, -1.0]      # image down
    z_axis = [c, s, 0.0]           # optical axis
    return np.array([x_axis, y_axis, z_axis]).T


@dataclass
class Lidar:
    R_se: np.ndarray            # [3, 3] lidar -> ego
    t_se: np.ndarray            # [3] m
    yaw_se: float               # rotation of lidar about ego z, rad
    elevations: np.ndarray      # [B] rad, ascending (ring index = beam index)
    n_azimuth: int
    max_range: float
    min_range: float

    def directions(self):
        """Unit beam directions [B, A, 3] in the lidar frame; column j at azimuth 2 pi j / A."""
        az = 2 * np.pi * np.arange(self.n_azimuth) / self.n_azimuth
        el = self.elevations
        ce = np.cos(el)[:, None]
        return np.stack([ce * np.cos(az)[None], ce * np.sin(az)[None],
                         np.repeat(np.sin(el)[:, None], len(az), 1)], -1)


def make_cameras(cfg, width, height):
    """The six nuScenes-like cameras (list of ``Camera``) of ``cfg`` (``WorldConfig``) for
    ``width`` x ``height`` pixel images, intrinsics scaled from 1600 x 900."""
    sx, sy = width / NUSCENES_WIDTH, height / NUSCENES_HEIGHT
    cams = []
    for m in cfg.cameras:
        K = np.array([[m.focal_px_1600 * sx, 0.0, width / 2.0],
                      [0.0, m.focal_px_1600 * sy, height / 2.0],
                      [0.0, 0.0, 1.0]])
        cams.append(Camera(m.channel, width, height, K, camera_rotation(math.radians(m.yaw_deg)),
                           np.asarray(m.translation, dtype=np.float64)))
    return cams


def make_lidar(cfg):
    """The LIDAR_TOP ``Lidar`` of ``cfg`` (``WorldConfig``)."""
    yaw = math.radians(cfg.lidar_yaw_deg)
    lo, hi = (math.radians(v) for v in cfg.lidar_elevation_range_deg)
    return Lidar(rot_z(yaw), np.asarray(cfg.lidar_translation, dtype=np.float64), yaw,
                 np.linspace(lo, hi, cfg.lidar_beams), cfg.lidar_azimuth_steps,
                 cfg.lidar_max_range, cfg.lidar_min_range)


def sensor_world_pose(ego_t, ego_yaw, R_se, t_se):
    """Sensor -> global rotation [3, 3] and sensor origin [3] in the global frame (m), from
    the ego pose (``ego_t`` [3] global, ``ego_yaw`` float rad) and ``R_se`` / ``t_se``."""
    R_ge = rot_z(ego_yaw)
    return R_ge @ R_se, ego_t + R_ge @ t_se


def calibration_record(R_se, t_se):
    """(translation list, rotation quaternion list) as nuScenes stores them."""
    return [float(v) for v in t_se], quat_from_matrix(R_se)
