"""tools/create_data.py on a generated toy world: info content against the devkit."""
import json
import os
import pickle

import numpy as np
import pytest

from core.occ3d import NUSCENES_CAMERAS
from tools import create_data

pytestmark = pytest.mark.toy_world


def _devkit_pose(nusc, table, token):
    from nuscenes.utils.geometry_utils import transform_matrix
    from pyquaternion import Quaternion
    record = nusc.get(table, token)
    return transform_matrix(record['translation'], Quaternion(record['rotation']))


@pytest.fixture(scope='module')
def infos(toy_root):
    with open(os.path.join(toy_root, 'nuscenes_infos_train_sweep.pkl'), 'rb') as f:
        train = pickle.load(f)
    with open(os.path.join(toy_root, 'nuscenes_infos_val_sweep.pkl'), 'rb') as f:
        val = pickle.load(f)
    return train, val


@pytest.fixture(scope='module')
def nusc(toy_root):
    from nuscenes import NuScenes
    return NuScenes('v1.0-trainval', dataroot=toy_root, verbose=False)


def test_splits_follow_toy_split_json(toy_root, infos, toy_options):
    with open(os.path.join(toy_root, 'toy_split.json')) as f:
        split = json.load(f)
    train, val = infos
    assert {i['scene_name'] for i in train['data_list']} == set(split['train'])
    assert {i['scene_name'] for i in val['data_list']} == set(split['val'])
    assert len(train['data_list']) == toy_options['frames_per_scene']
    assert train['metainfo']['split'] == 'train' and train['metainfo']['version'] == 'v1.0-trainval'


def test_keyframe_fields_and_order(toy_root, infos, toy_options):
    data = infos[0]['data_list']
    assert [i['frame_idx'] for i in data] == list(range(len(data)))
    assert data[0]['prev'] == '' and data[-1]['next'] == ''
    assert [i['next'] for i in data[:-1]] == [i['token'] for i in data[1:]]
    assert all(a['timestamp'] < b['timestamp'] for a, b in zip(data, data[1:]))
    for info in data:
        assert info['occ_path'] == os.path.join('occ3d', info['scene_name'], info['token'],
                                                'labels.npz')
        assert os.path.isfile(os.path.join(toy_root, info['occ_path']))
        assert os.path.isfile(os.path.join(toy_root, info['lidar_path']))
        assert list(info['cams']) == list(NUSCENES_CAMERAS)
        for cam in info['cams'].values():
            assert os.path.isfile(os.path.join(toy_root, cam['data_path']))
            assert cam['cam_intrinsic'].shape == (3, 3)
    # one camera sweep between keyframes, none before the first keyframe
    assert len(data[0]['cam_sweeps']) == 0
    for prev, info in zip(data, data[1:]):
        assert len(info['cam_sweeps']) == toy_options['sweeps']
        for cam, sweep in info['cam_sweeps'][0].items():
            assert (prev['cams'][cam]['timestamp'] < sweep['timestamp']
                    < info['cams'][cam]['timestamp'])
            assert sweep['data_path'].startswith(f'sweeps/{cam}/')


def test_matrices_equal_devkit_composition(nusc, infos):
    for info in infos[0]['data_list'] + infos[1]['data_list']:
        sample = nusc.get('sample', info['token'])
        lidar_sd = nusc.get('sample_data', sample['data']['LIDAR_TOP'])
        lidar2ego = _devkit_pose(nusc, 'calibrated_sensor', lidar_sd['calibrated_sensor_token'])
        ego2global = _devkit_pose(nusc, 'ego_pose', lidar_sd['ego_pose_token'])
        np.testing.assert_allclose(info['lidar2ego'], lidar2ego, atol=1e-9)
        np.testing.assert_allclose(info['ego2global'], ego2global, atol=1e-9)
        cam_infos = list(info['cams'].values()) + [
            cam for frame in info['cam_sweeps'] for cam in frame.values()]
        for cam in cam_infos:
            sd = nusc.get('sample_data', cam['sample_data_token'])
            calib = nusc.get('calibrated_sensor', sd['calibrated_sensor_token'])
            sensor2ego = _devkit_pose(nusc, 'calibrated_sensor', sd['calibrated_sensor_token'])
            cam_ego2global = _devkit_pose(nusc, 'ego_pose', sd['ego_pose_token'])
            np.testing.assert_allclose(cam['sensor2ego'], sensor2ego, atol=1e-9)
            np.testing.assert_allclose(cam['ego2global'], cam_ego2global, atol=1e-9)
            np.testing.assert_allclose(cam['cam_intrinsic'], calib['camera_intrinsic'])
            assert cam['timestamp'] == sd['timestamp'] and cam['data_path'] == sd['filename']
            sensor2lidar = (np.linalg.inv(lidar2ego) @ np.linalg.inv(ego2global)
                            @ cam_ego2global @ sensor2ego)
            np.testing.assert_allclose(cam['sensor2lidar'], sensor2lidar, atol=1e-9)
            np.testing.assert_allclose(cam['sensor2lidar_rotation'], sensor2lidar[:3, :3],
                                       atol=1e-9)
            np.testing.assert_allclose(cam['sensor2lidar_translation'], sensor2lidar[:3, 3],
                                       atol=1e-9)


def test_out_dir_and_atomic_write(toy_world, tmp_path):
    written = create_data.main(['--root', toy_world, '--out-dir', str(tmp_path),
                                      '--no-progress'])
    assert sorted(os.listdir(tmp_path)) == ['nuscenes_infos_train_sweep.pkl',
                                            'nuscenes_infos_val_sweep.pkl']
    assert written['val'] == str(tmp_path / 'nuscenes_infos_val_sweep.pkl')


def test_missing_root_and_version_are_one_line_errors(toy_world, tmp_path):
    with pytest.raises(SystemExit, match='data root not found: .*nowhere'):
        create_data.main(['--root', str(tmp_path / 'nowhere')])
    with pytest.raises(SystemExit, match=r'version folder not found: .*v1\.0-mini'):
        create_data.main(['--root', toy_world, '--version', 'v1.0-mini',
                                '--out-dir', str(tmp_path)])


def test_existing_infos_are_kept_unless_overwrite(toy_world, tmp_path):
    # SparseOcc's infos carry the same names: a second run must not replace them.
    theirs = tmp_path / 'nuscenes_infos_val_sweep.pkl'
    theirs.write_bytes(b'SparseOcc infos')
    with pytest.raises(SystemExit, match=r'nuscenes_infos_val_sweep\.pkl already in .*'
                                         r'--overwrite'):
        create_data.main(['--root', toy_world, '--out-dir', str(tmp_path),
                                '--no-progress'])
    assert theirs.read_bytes() == b'SparseOcc infos'
    assert not (tmp_path / 'nuscenes_infos_train_sweep.pkl').exists()  # checked up front
    create_data.main(['--root', toy_world, '--out-dir', str(tmp_path), '--no-progress',
                            '--overwrite'])
    with open(theirs, 'rb') as f:
        assert pickle.load(f)['metainfo']['split'] == 'val'
