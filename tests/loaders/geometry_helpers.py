"""Hand-built cameras and pipeline results for the transform tests (no data files)."""
import numpy as np

from core.ego_pose import invert_pose
from loaders.pipelines.camera_geometry import pad_intrinsics, refresh_projections


def camera_looking(yaw_deg, position=(1.5, 0.0, 1.5)):
    """cam2ego float64 [4, 4] of a level camera whose optical axis points along ego yaw."""
    yaw = np.radians(yaw_deg)
    c, s = np.cos(yaw), np.sin(yaw)
    cam2ego = np.eye(4)
    cam2ego[:3, :3] = np.array([[s, -c, 0.0], [0.0, 0.0, -1.0], [c, s, 0.0]]).T
    cam2ego[:3, 3] = position
    return cam2ego


def intrinsics(width, height, focal):
    return np.array([[focal, 0.0, width / 2.0], [0.0, focal, height / 2.0], [0.0, 0.0, 1.0]])


def synthetic_results(width=160, height=90, focal=80.0, yaws=(0.0, 180.0),
                      lidar2ego=None):
    """Pipeline results as ``LoadMultiViewImages`` leaves them, with black images."""
    n = len(yaws)
    results = dict(
        img=[np.zeros((height, width, 3), np.uint8) for _ in range(n)],
        ego2cam=np.stack([invert_pose(camera_looking(y)) for y in yaws]),
        cam2img=np.stack([pad_intrinsics(intrinsics(width, height, focal))] * n),
        img_aug=np.tile(np.eye(4), (n, 1, 1)), bev_aug=np.eye(4),
        lidar2ego=np.eye(4) if lidar2ego is None else lidar2ego,
        img_shape=[(height, width)] * n)
    return refresh_projections(results)


def draw_blob(image, u, v, sigma=2.5, value=250):
    """Adds a Gaussian blob centred on pixel (u, v) (integer pixel centres)."""
    height, width = image.shape[:2]
    vv, uu = np.mgrid[0:height, 0:width]
    blob = value * np.exp(-((uu - u) ** 2 + (vv - v) ** 2) / (2 * sigma ** 2))
    image[:] = np.clip(image + blob[..., None], 0, 255).astype(np.uint8)


def centroid(image, near, radius=8):
    """Intensity-weighted centroid (u, v) of channel 0 within ``radius`` px of ``near``."""
    height, width = image.shape[:2]
    vv, uu = np.mgrid[0:height, 0:width]
    weight = image[..., 0].astype(np.float64)
    weight[(uu - near[0]) ** 2 + (vv - near[1]) ** 2 > radius ** 2] = 0
    return np.array([(weight * uu).sum(), (weight * vv).sum()]) / weight.sum()
