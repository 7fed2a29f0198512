"""Occ3DNuScenesDataset: lazy loading, errors, ray origins, and the packed batch through
collate and Det3DDataPreprocessor."""
import os
import pickle

import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope

from core.ego_pose import ray_origins_of_infos
from core.errors import DataFileError

TOY_PIPELINE = [
    dict(type='LoadMultiViewImages', num_frames=2, interval=2, decode_backend='cv2'),
    dict(type='LoadOccupancy'),
    dict(type='ImageAug3D', final_size=(64, 32), resize_range=(0.9, 1.1), flip_prob=0.5),
    dict(type='BEVAug', flip_x_prob=0.5, flip_y_prob=0.5),
    dict(type='LiDARDepthTarget', stride=8),
    dict(type='PackOccInputs'),
]


def _build(**kwargs):
    from mmdet3d.registry import DATASETS

    import loaders  # noqa: F401
    init_default_scope('mmdet3d')
    return DATASETS.build(dict(type='Occ3DNuScenesDataset', **kwargs))


def test_builds_without_data_and_fails_clearly_on_first_use(tmp_path):
    dataset = _build(data_root=str(tmp_path / 'absent'), ann_file='infos.pkl')
    with pytest.raises(FileNotFoundError, match='data root not found.*absent'):
        len(dataset)
    dataset = _build(data_root=str(tmp_path), ann_file='infos.pkl')
    with pytest.raises(FileNotFoundError, match='info file not found.*infos.pkl'):
        dataset[0]
    (tmp_path / 'broken.pkl').write_bytes(b'\x80\x04garbage')
    with pytest.raises(DataFileError, match='broken.pkl: not a readable info pickle'):
        len(_build(data_root=str(tmp_path), ann_file='broken.pkl'))
    with open(tmp_path / 'list.pkl', 'wb') as f:
        pickle.dump([1, 2], f)
    with pytest.raises(DataFileError, match='list.pkl: expected dict'):
        len(_build(data_root=str(tmp_path), ann_file='list.pkl'))


def test_a_pipeline_of_named_steps_runs_in_order_without_the_dropped_ones(tmp_path):
    named = dict(load=TOY_PIPELINE[0], occupancy=TOY_PIPELINE[1], depth=None,
                 pack=TOY_PIPELINE[-1])
    dataset = _build(data_root=str(tmp_path), ann_file='infos.pkl', pipeline=named)
    assert [type(t).__name__ for t in dataset.pipeline.transforms] == [
        'LoadMultiViewImages', 'LoadOccupancy', 'PackOccInputs']
    listed = _build(data_root=str(tmp_path), ann_file='infos.pkl', pipeline=TOY_PIPELINE)
    assert [type(t).__name__ for t in listed.pipeline.transforms] == [
        step['type'] for step in TOY_PIPELINE]


@pytest.fixture(scope='module')
def toy_dataset(toy_root):
    return _build(data_root=toy_root, ann_file='nuscenes_infos_train_sweep.pkl',
                  pipeline=TOY_PIPELINE, max_past_frames=2)


@pytest.mark.toy_world
def test_ray_origins_and_paths(toy_dataset, toy_root):
    with open(os.path.join(toy_root, 'nuscenes_infos_train_sweep.pkl'), 'rb') as f:
        raw = pickle.load(f)['data_list']
    expected = ray_origins_of_infos(raw)
    assert len(toy_dataset) == len(raw)
    for idx in range(len(toy_dataset)):
        info = toy_dataset.get_data_info(idx)
        np.testing.assert_array_equal(info['ray_origins'], expected[info['token']])
        assert 1 <= len(info['ray_origins']) <= 8
        assert os.path.isabs(info['occ_path']) and os.path.isfile(info['occ_path'])
        assert all(os.path.isfile(c['data_path']) for c in info['cams'].values())
    assert toy_dataset.metainfo['classes'][-1] == 'free'


@pytest.mark.toy_world
def test_packed_batch_through_collate_and_preprocessor(toy_dataset):
    from mmengine.dataset import default_collate, pseudo_collate
    from torch.utils.data import DataLoader

    from mmdet3d.models.data_preprocessors import Det3DDataPreprocessor

    loader = DataLoader(toy_dataset, batch_size=2, collate_fn=pseudo_collate, num_workers=0)
    batch = next(iter(loader))
    assert [img.shape for img in batch['inputs']['img']] == [(12, 3, 32, 64)] * 2
    assert batch['inputs']['img'][0].dtype == torch.uint8
    mean, std = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]
    preprocessor = Det3DDataPreprocessor(mean=mean, std=std, bgr_to_rgb=False)
    out = preprocessor(batch, training=True)
    imgs = out['inputs']['imgs']
    assert imgs.shape == (2, 12, 3, 32, 64) and imgs.dtype == torch.float32
    raw = batch['inputs']['img'][1][7].float()
    expected = (raw - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]
    torch.testing.assert_close(imgs[1, 7], expected)
    for sample in out['data_samples']:
        meta = sample.metainfo
        for key in ('ego2img', 'lidar2img', 'cam2ego', 'cam2img', 'img_aug'):
            assert meta[key].shape == (12, 4, 4) and meta[key].dtype == np.float32
        assert meta['img_timestamp'].shape == (12,)
        assert (meta['img_timestamp'][:6] > meta['img_timestamp'][6:].max() - 1e-6).all()
        assert meta['ego2global'].shape == (4, 4) and meta['bev_aug'].shape == (4, 4)
        assert meta['ray_origins'].ndim == 2 and meta['ray_origins'].shape[1] == 3
        assert meta['num_frames'] == 2 and meta['num_views'] == 6
        assert meta['img_shape'] == (32, 64) and meta['batch_input_shape'] == (32, 64)
        assert isinstance(meta['sample_token'], str) and meta['scene_name'].startswith('scene-')
        assert sample.gt_occ_sem.shape == (200, 200, 16) and sample.gt_occ_sem.dtype == torch.uint8
        assert sample.mask_camera.dtype == torch.uint8 and sample.mask_lidar.shape == (200, 200, 16)
        assert sample.gt_depth.shape == (6, 4, 8) and sample.gt_depth.dtype == torch.float32
        assert (sample.gt_depth > 0).any()
        # what the evaluator receives (data sample -> dict) has the metric's keys
        as_dict = sample.to_dict()
        assert {'gt_occ_sem', 'mask_camera', 'mask_lidar', 'ray_origins'} <= set(as_dict)
    # mmengine's default_collate stacks the images into one [B, T*6, 3, H, W] tensor
    stacked = default_collate([toy_dataset[0], toy_dataset[1]])
    assert stacked['inputs']['img'].shape == (2, 12, 3, 32, 64)
    assert len(stacked['data_samples']) == 2


@pytest.mark.toy_world
def test_camera_chain_matches_the_lidar_chain_and_the_grid(toy_root):
    """Current cameras: ego -> global -> camera ego -> camera equals mmdet3d's
    ego -> LiDAR -> camera (sensor2lidar); and the keyframe's LiDAR points fall into
    occupied voxels of the grid, so grid, LiDAR and camera frames agree."""
    from core.ego_pose import invert_pose
    dataset = _build(data_root=toy_root, ann_file='nuscenes_infos_train_sweep.pkl',
                     pipeline=[dict(type='LoadMultiViewImages', num_frames=2, interval=1,
                                    decode_backend='cv2'),
                               dict(type='LoadOccupancy')], max_past_frames=1)
    out = dataset[2]
    lidar_chain = [invert_pose(out['cams'][cam]['sensor2lidar']) @ invert_pose(out['lidar2ego'])
                   for cam in out['cam_names']]
    np.testing.assert_allclose(out['ego2cam'][:6], lidar_chain, atol=1e-9)
    # the past frame is this keyframe's own sweep: its sensor2lidar is relative to us too
    sweep_chain = [invert_pose(out['cam_sweeps'][0][cam]['sensor2lidar'])
                   @ invert_pose(out['lidar2ego']) for cam in out['cam_names']]
    np.testing.assert_allclose(out['ego2cam'][6:], sweep_chain, atol=1e-9)
    points = np.fromfile(out['lidar_path'], np.float32).reshape(-1, 5)[:, :3]
    ego = points @ out['lidar2ego'][:3, :3].T + out['lidar2ego'][:3, 3]
    index = np.floor((ego - np.array([-40.0, -40.0, -1.0])) / 0.4).astype(int)
    inside = ((index >= 0) & (index < np.array([200, 200, 16]))).all(1)
    labels = out['gt_occ_sem'][tuple(index[inside].T)]
    assert inside.sum() > 100 and (labels != 17).mean() > 0.9
