"""Rigid poses of nuScenes records and the RayIoU ray origins derived from them.

Frames (nuScenes conventions):

* *global*: the map frame, metres;
* *ego*: the vehicle frame at one sensor timestamp (x forward, y left, z up, origin on the
  ground below the rear axle); every ``sample_data`` has its own ego pose;
* *sensor*: a camera (x right, y down, z forward) or the LiDAR (z up).

Quaternions are ``[w, x, y, z]`` as stored in the nuScenes tables. All matrices are
float64 [4, 4] homogeneous transforms named ``<from>2<to>`` (``ego2global`` maps ego-frame
points to global points).
"""
import numpy as np

# SparseOcc's RayIoU protocol: origins are the frames' LiDAR positions within this many
# metres (|x| and |y|) of the current ego, at most MAX_RAY_ORIGINS of them.
RAY_ORIGIN_RANGE = 39.0
MAX_RAY_ORIGINS = 8


def quaternion_to_matrix(quaternion):
    """Rotation matrix of a unit quaternion.

    Args:
        quaternion: sequence of 4 floats ``[w, x, y, z]`` (normalised here, as the tables
            store them rounded).

    Returns:
        np.ndarray: float64 [3, 3].
    """
    w, x, y, z = np.asarray(quaternion, dtype=np.float64) / np.linalg.norm(quaternion)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])


def pose_matrix(translation, rotation):
    """Homogeneous transform of a nuScenes ``translation`` + ``rotation`` record.

    Args:
        translation: 3 floats, metres.
        rotation: quaternion ``[w, x, y, z]``.

    Returns:
        np.ndarray: float64 [4, 4], mapping points of the record's frame to its parent frame
        (e.g. a ``calibrated_sensor`` record gives sensor2ego).
    """
    matrix = np.eye(4)
    matrix[:3, :3] = quaternion_to_matrix(rotation)
    matrix[:3, 3] = translation
    return matrix


def invert_pose(matrix):
    """Inverse of a rigid transform, float64 [4, 4] -> [4, 4] (exact, no general inverse)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    inverse = np.eye(4)
    inverse[:3, :3] = matrix[:3, :3].T
    inverse[:3, 3] = -matrix[:3, :3].T @ matrix[:3, 3]
    return inverse


def lidar_positions_in_ego(ego2global_ref, ego2globals, lidar2egos):
    """Where the LiDAR of several frames sits, expressed in a reference ego frame.

    Args:
        ego2global_ref: float [4, 4], the reference frame's ego pose.
        ego2globals: float [N, 4, 4], each frame's ego pose (its LiDAR sample_data's).
        lidar2egos: float [N, 4, 4], each frame's LiDAR mounting (calibrated_sensor).

    Returns:
        np.ndarray: float64 [N, 3], metres in the reference ego frame.
    """
    lidar_global = np.einsum('nij,nj->ni', np.asarray(ego2globals, np.float64),
                             np.asarray(lidar2egos, np.float64)[:, :, 3])
    return (lidar_global @ invert_pose(ego2global_ref).T)[:, :3]


def select_ray_origins(positions, max_range, max_origins):
    """RayIoU origins of one sample from candidate positions (SparseOcc's rule).

    Keeps the positions with ``|x| < max_range`` and ``|y| < max_range`` (the query rays
    must start inside the 80 m grid), in their given (time) order, and evenly sub-samples
    them to at most ``max_origins`` with ``np.round(np.linspace(0, n - 1, max_origins))``.

    Args:
        positions: float [N, 3], candidate origins in the sample's ego frame, time order.
        max_range (float): half-width of the accepted square, metres (39 in SparseOcc).
        max_origins (int): at most this many origins (8 in SparseOcc).

    Returns:
        np.ndarray: float32 [T, 3] with 0 <= T <= max_origins.
    """
    positions = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    inside = (np.abs(positions[:, 0]) < max_range) & (np.abs(positions[:, 1]) < max_range)
    kept = positions[inside]
    if len(kept) > max_origins:
        kept = kept[np.round(np.linspace(0, len(kept) - 1, max_origins)).astype(np.int64)]
    return kept.astype(np.float32)


def ray_origins_of_infos(infos, max_range=RAY_ORIGIN_RANGE, max_origins=MAX_RAY_ORIGINS):
    """RayIoU origins for every keyframe of a list of infos.

    Each sample's candidates are the LiDAR positions of all keyframes of its scene
    (ordered by timestamp), transformed into the sample's ego frame.

    Args:
        infos: iterable of info dicts as written by ``tools/create_data.py`` (keys
            ``token``, ``scene_name``, ``timestamp``, ``ego2global`` [4, 4],
            ``lidar2ego`` [4, 4]).
        max_range (float), max_origins (int): see :func:`select_ray_origins`.

    Returns:
        dict: sample token -> float32 [T, 3] origins in that sample's ego frame.
    """
    scenes = {}
    for info in infos:
        scenes.setdefault(info['scene_name'], []).append(info)
    origins = {}
    for frames in scenes.values():
        frames = sorted(frames, key=lambda info: info['timestamp'])
        ego2globals = np.stack([info['ego2global'] for info in frames])
        lidar2egos = np.stack([info['lidar2ego'] for info in frames])
        for info in frames:
            positions = lidar_positions_in_ego(info['ego2global'], ego2globals, lidar2egos)
            origins[info['token']] = select_ray_origins(positions, max_range, max_origins)
    return origins
