"""Poses and RayIoU ray origins (SparseOcc's within-39 m, at-most-8 rule)."""
import math

import numpy as np
import pytest

from core.ego_pose import (invert_pose, lidar_positions_in_ego, pose_matrix, quaternion_to_matrix,
                           ray_origins_of_infos, select_ray_origins)


def test_quaternion_matches_pyquaternion():
    from pyquaternion import Quaternion
    rng = np.random.default_rng(0)
    for _ in range(5):
        q = rng.normal(size=4)
        q /= np.linalg.norm(q)
        np.testing.assert_allclose(quaternion_to_matrix(q), Quaternion(q).rotation_matrix,
                                   atol=1e-12)
    pose = pose_matrix([1.0, 2.0, 3.0], q)
    np.testing.assert_allclose(invert_pose(pose) @ pose, np.eye(4), atol=1e-12)


def _yaw_quaternion(yaw):
    return [math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)]


def _infos_along_x(xs, yaw=0.0, lidar=(0.9, 0.0, 1.8), scene='scene-a', t0=0):
    """Keyframes of one scene with the ego at (x, 0, 0) heading ``yaw``."""
    return [dict(token=f'{scene}-{i}', scene_name=scene, timestamp=t0 + i,
                 ego2global=pose_matrix([x, 0.0, 0.0], _yaw_quaternion(yaw)),
                 lidar2ego=pose_matrix(lidar, [1.0, 0.0, 0.0, 0.0]))
            for i, x in enumerate(xs)]


def test_origins_are_lidar_positions_in_the_current_ego_frame():
    infos = _infos_along_x([0.0, 5.0, 10.0])
    origins = ray_origins_of_infos(infos)
    np.testing.assert_allclose(origins['scene-a-1'],
                               [[-4.1, 0, 1.8], [0.9, 0, 1.8], [5.9, 0, 1.8]], atol=1e-6)
    # heading 90 degrees (driving sideways): the track along global x lies along -y of
    # the ego frame, and the mounting offset stays along ego x
    rotated = ray_origins_of_infos(_infos_along_x([0.0, 5.0], yaw=math.pi / 2))
    np.testing.assert_allclose(rotated['scene-a-0'], [[0.9, 0, 1.8], [0.9, -5, 1.8]],
                               atol=1e-6)


def test_only_frames_within_39m_are_origins():
    infos = _infos_along_x([0.0, 20.0, 38.0, 39.5, 60.0])
    origins = ray_origins_of_infos(infos)
    # from x = 0 (lidar at +0.9): 0.9, 20.9, 38.9 are inside, 40.4 and 60.9 are not
    np.testing.assert_allclose(origins['scene-a-0'][:, 0], [0.9, 20.9, 38.9], atol=1e-5)
    # from x = 60: 38 -> -21.1 and 39.5 -> -19.6 are inside, 0 and 20 are not
    np.testing.assert_allclose(origins['scene-a-4'][:, 0], [-21.1, -19.6, 0.9], atol=1e-5)


def test_other_scenes_never_contribute():
    infos = _infos_along_x([0.0, 1.0]) + _infos_along_x([0.5], scene='scene-b', t0=10)
    origins = ray_origins_of_infos(infos)
    assert len(origins['scene-a-0']) == 2 and len(origins['scene-b-0']) == 1


def test_at_most_8_origins_evenly_subsampled():
    xs = np.linspace(-30.0, 30.0, 20)
    infos = _infos_along_x(xs)
    origins = ray_origins_of_infos(infos)['scene-a-10']
    keep = np.round(np.linspace(0, 19, 8)).astype(int)
    np.testing.assert_allclose(origins[:, 0], xs[keep] - xs[10] + 0.9, atol=1e-5)
    assert origins.dtype == np.float32 and origins.shape == (8, 3)


def test_select_ray_origins_edge_cases():
    assert select_ray_origins(np.zeros((0, 3)), 39.0, 8).shape == (0, 3)
    inside = select_ray_origins([[38.99, -38.99, 1.0], [39.0, 0.0, 1.0], [0.0, -39.0, 1.0]],
                                39.0, 8)
    np.testing.assert_allclose(inside, [[38.99, -38.99, 1.0]], rtol=1e-6)


def test_positions_use_each_frames_own_mounting():
    ref = pose_matrix([0, 0, 0], [1, 0, 0, 0])
    egos = np.stack([pose_matrix([10, 0, 0], [1, 0, 0, 0])] * 2)
    lidars = np.stack([pose_matrix([1, 0, 1.5], [1, 0, 0, 0]),
                       pose_matrix([2, 0, 2.0], [1, 0, 0, 0])])
    np.testing.assert_allclose(lidar_positions_in_ego(ref, egos, lidars),
                               [[11, 0, 1.5], [12, 0, 2.0]])


@pytest.mark.parametrize('count', [1, 8, 9])
def test_counts(count):
    infos = _infos_along_x(np.arange(count, dtype=float))
    assert len(ray_origins_of_infos(infos)['scene-a-0']) == min(count, 8)
