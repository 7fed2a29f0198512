"""Test helper: writes info pickles in SparseOcc's layout from a nuScenes tree (the toy
world), the way mmdet3d v1.0.0rc6's ``create_data.py`` plus SparseOcc's
``gen_sweep_info.py`` lay them out, computed independently of ``tools/create_data.py``
(devkit tables, pyquaternion).

Layout (per keyframe): ``token``, ``timestamp``, ``lidar_path`` (``<root>/samples/...``, the
root as given), quaternion lists ``lidar2ego_*`` / ``ego2global_*``, ``cams`` (camera ->
``data_path``, ``type``, ``sample_data_token``, ``timestamp``, ``cam_intrinsic`` [3, 3],
``sensor2lidar_rotation`` / ``_translation`` (``p_lidar = R @ p_cam + t``) and
``sensor2global_rotation`` / ``_translation`` (transposed: ``p_global = p_cam @ R + t``)),
``sweeps`` (up to 5 camera frames between the previous keyframe and this one, newest first,
each camera -> ``data_path``, ``sensor2global_*``, ``cam_intrinsic``, ``timestamp``) and the
box annotations SparseOcc ignores; no scene name, no prev / next.
"""
import json
import os
import pickle

import numpy as np

CAMERAS = ('CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK', 'CAM_BACK_LEFT',
           'CAM_BACK_RIGHT')
MAX_SWEEPS = 5


def _rotation(quaternion):
    from pyquaternion import Quaternion
    return Quaternion(quaternion).rotation_matrix


def _sensor2global(nusc, sd):
    """(R^T, t) of camera -> global in SparseOcc's row-vector convention."""
    calib = nusc.get('calibrated_sensor', sd['calibrated_sensor_token'])
    pose = nusc.get('ego_pose', sd['ego_pose_token'])
    s2e_r, e2g_r = _rotation(calib['rotation']), _rotation(pose['rotation'])
    rotation = s2e_r.T @ e2g_r.T
    translation = np.asarray(calib['translation']) @ e2g_r.T + np.asarray(pose['translation'])
    return rotation, translation


def _sweep_cam(nusc, sd, root):
    rotation, translation = _sensor2global(nusc, sd)
    calib = nusc.get('calibrated_sensor', sd['calibrated_sensor_token'])
    return dict(data_path=os.path.join(root, sd['filename']),
                sensor2global_rotation=rotation, sensor2global_translation=translation,
                cam_intrinsic=np.array(calib['camera_intrinsic']), timestamp=sd['timestamp'])


def _keyframe_cam(nusc, sd, cam, lidar2global_r, lidar2global_t, root):
    info = _sweep_cam(nusc, sd, root)
    r_s2g, t_s2g = info['sensor2global_rotation'].T, info['sensor2global_translation']
    # p_lidar = R_g2l (R_s2g p + t_s2g - t_l2g)
    r_g2l = lidar2global_r.T
    info.update(type=cam, sample_data_token=sd['token'],
                sensor2lidar_rotation=r_g2l @ r_s2g,
                sensor2lidar_translation=r_g2l @ (t_s2g - lidar2global_t))
    return info


def _sweeps(nusc, sample, root):
    """Camera frames between the previous keyframe and ``sample``, newest first."""
    if not sample['prev']:
        return []
    current = {cam: nusc.get('sample_data', sample['data'][cam]) for cam in CAMERAS}
    sweeps = []
    for _ in range(MAX_SWEEPS):
        previous = {cam: nusc.get('sample_data', sd['prev']) for cam, sd in current.items()
                    if sd['prev']}
        if len(previous) < len(CAMERAS) or any(sd['is_key_frame'] for sd in previous.values()):
            break
        sweeps.append({cam: _sweep_cam(nusc, sd, root) for cam, sd in previous.items()})
        current = previous
    return sweeps


def write_sparseocc_infos(nusc_root, split, out_path, path_root=None, version='v1.0-trainval'):
    """Writes ``out_path`` (SparseOcc layout) for the scenes of ``split`` of the toy split.

    Args:
        nusc_root (str): the nuScenes tree (with ``toy_split.json``).
        split (str): ``'train'`` or ``'val'``.
        out_path (str): the pickle to write.
        path_root (str, optional): the root written before every ``data_path`` /
            ``lidar_path`` (SparseOcc: ``data/nuscenes``); default ``nusc_root``.

    Returns:
        dict: the pickled content.
    """
    from nuscenes import NuScenes

    root = nusc_root if path_root is None else path_root
    nusc = NuScenes(version, dataroot=nusc_root, verbose=False)
    with open(os.path.join(nusc_root, 'toy_split.json')) as f:
        scene_names = json.load(f)[split]
    scenes = {scene['name']: scene for scene in nusc.scene}
    infos = []
    for name in scene_names:
        token = scenes[name]['first_sample_token']
        while token:
            sample = nusc.get('sample', token)
            lidar_sd = nusc.get('sample_data', sample['data']['LIDAR_TOP'])
            calib = nusc.get('calibrated_sensor', lidar_sd['calibrated_sensor_token'])
            pose = nusc.get('ego_pose', lidar_sd['ego_pose_token'])
            l2e_r, e2g_r = _rotation(calib['rotation']), _rotation(pose['rotation'])
            l2g_r = e2g_r @ l2e_r
            l2g_t = e2g_r @ np.asarray(calib['translation']) + np.asarray(pose['translation'])
            cams = {cam: _keyframe_cam(nusc, nusc.get('sample_data', sample['data'][cam]), cam,
                                       l2g_r, l2g_t, root) for cam in CAMERAS}
            infos.append(dict(
                lidar_path=os.path.join(root, lidar_sd['filename']), token=sample['token'],
                sweeps=_sweeps(nusc, sample, root), cams=cams,
                lidar2ego_translation=calib['translation'],
                lidar2ego_rotation=calib['rotation'],
                ego2global_translation=pose['translation'],
                ego2global_rotation=pose['rotation'], timestamp=sample['timestamp'],
                gt_boxes=np.zeros((0, 7)), gt_names=np.array([]),
                gt_velocity=np.zeros((0, 2)), num_lidar_pts=np.array([]),
                num_radar_pts=np.array([]), valid_flag=np.array([], dtype=bool)))
            token = sample['next']
    content = dict(infos=infos, metadata=dict(version=version))
    with open(out_path, 'wb') as f:
        pickle.dump(content, f)
    return content
