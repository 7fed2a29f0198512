"""Info layouts: SparseOcc's pickles load directly and yield the samples of GD-OCC's own."""
import os
import pickle

import numpy as np
import pytest
from mmengine.registry import init_default_scope

from core.errors import DataFileError
from core.infos import load_info_file, relative_to_root
from tests.core.sparseocc_infos import write_sparseocc_infos

# No random augmentation: both datasets must give identical samples.
PIPELINE = [
    dict(type='LoadMultiViewImages', num_frames=3, interval=1, decode_backend='cv2'),
    dict(type='LoadOccupancy'),
    dict(type='LiDARDepthTarget', stride=8),
]


def _dataset(root, ann_file, **kwargs):
    from mmdet3d.registry import DATASETS

    import loaders  # noqa: F401
    init_default_scope('mmdet3d')
    return DATASETS.build(dict(type='Occ3DNuScenesDataset', data_root=root, ann_file=ann_file,
                               pipeline=PIPELINE, max_past_frames=4, **kwargs))


def test_relative_to_root_strips_the_root_or_anything_before_samples():
    assert relative_to_root('data/nuscenes/samples/CAM_FRONT/a.jpg', 'data/nuscenes') == \
        os.path.join('samples', 'CAM_FRONT', 'a.jpg')
    assert relative_to_root('./data/nuscenes/sweeps/x.jpg', 'data/nuscenes/') == \
        os.path.join('sweeps', 'x.jpg')
    # written with another root: from the nuScenes data folder on
    assert relative_to_root('data/nuscenes/samples/a.jpg', '/mnt/nusc') == \
        os.path.join('samples', 'a.jpg')
    assert relative_to_root('/mnt/nusc/samples/a.jpg', '/mnt/nusc') == \
        os.path.join('samples', 'a.jpg')
    assert relative_to_root('samples/a.jpg', '') == 'samples/a.jpg'
    assert relative_to_root('/elsewhere/a.jpg', '/mnt/nusc') == '/elsewhere/a.jpg'


def test_other_layouts_fail_with_one_error_naming_both(tmp_path):
    for name, content in (('list.pkl', [1, 2]), ('mmdet3d_v1x.pkl',
                                                 dict(metainfo={}, data_list=[dict(images={})]))):
        with open(tmp_path / name, 'wb') as f:
            pickle.dump(content, f)
        with pytest.raises(DataFileError) as err:
            load_info_file(str(tmp_path / name), str(tmp_path))
        message = str(err.value)
        assert name in message and 'tools/create_data.py' in message
        assert "SparseOcc's gen_sweep_info.py" in message and '\n' not in message


@pytest.fixture(scope='module')
def sparseocc_pickles(toy_root, tmp_path_factory):
    """SparseOcc-layout train infos of the toy world: paths starting with the data root
    (as SparseOcc writes them) and paths relative to it."""
    out = tmp_path_factory.mktemp('sparseocc_infos')
    rooted, relative = str(out / 'rooted.pkl'), str(out / 'relative.pkl')
    write_sparseocc_infos(toy_root, 'train', rooted)
    write_sparseocc_infos(toy_root, 'train', relative, path_root='')
    return rooted, relative


@pytest.mark.toy_world
def test_sparseocc_infos_yield_the_samples_of_the_own_infos(toy_root, sparseocc_pickles):
    own = _dataset(toy_root, 'nuscenes_infos_train_sweep.pkl')
    for path in sparseocc_pickles:
        theirs = _dataset(toy_root, path)
        assert len(theirs) == len(own) > 1
        assert theirs.metainfo['layout'] == 'sparseocc'
        for idx in range(len(own)):
            a, b = own[idx], theirs[idx]
            assert a['token'] == b['token'] and a['scene_name'] == b['scene_name']
            assert a['prev'] == b['prev'] and a['occ_path'] == b['occ_path']
            assert a['img_path'] == b['img_path']
            assert len(a['img']) == len(b['img']) == 18
            assert all(np.array_equal(x, y) for x, y in zip(a['img'], b['img']))
            np.testing.assert_allclose(b['ego2img'], a['ego2img'], rtol=1e-9, atol=1e-7)
            np.testing.assert_allclose(b['lidar2img'], a['lidar2img'], rtol=1e-9, atol=1e-7)
            np.testing.assert_allclose(b['img_timestamp'], a['img_timestamp'])
            np.testing.assert_allclose(b['ray_origins'], a['ray_origins'], atol=1e-5)
            for key in ('gt_occ_sem', 'mask_camera', 'mask_lidar'):
                assert np.array_equal(a[key], b[key])
            np.testing.assert_allclose(b['gt_depth'], a['gt_depth'], atol=1e-4)


@pytest.mark.toy_world
def test_sparseocc_infos_convert_to_the_own_infos(toy_root, sparseocc_pickles):
    own = load_info_file(os.path.join(toy_root, 'nuscenes_infos_train_sweep.pkl'), toy_root)[1]
    theirs = load_info_file(sparseocc_pickles[0], toy_root)[1]
    assert [i['token'] for i in theirs] == [i['token'] for i in own]
    assert [i['occ_path'] for i in theirs] == [i['occ_path'] for i in own]
    assert [i['cams']['CAM_BACK']['data_path'] for i in theirs] == \
        [i['cams']['CAM_BACK']['data_path'] for i in own]


@pytest.mark.toy_world
def test_sparseocc_infos_errors_name_the_cause(toy_root, sparseocc_pickles, tmp_path):
    with open(sparseocc_pickles[0], 'rb') as f:
        content = pickle.load(f)
    # mmdet3d's infos before gen_sweep_info.py: LiDAR sweeps
    lidar = dict(content, infos=[dict(i, sweeps=[dict(data_path='x.bin', type='lidar')])
                                 for i in content['infos']])
    with open(tmp_path / 'lidar_sweeps.pkl', 'wb') as f:
        pickle.dump(lidar, f)
    with pytest.raises(DataFileError, match='gen_sweep_info.py'):
        load_info_file(str(tmp_path / 'lidar_sweeps.pkl'), toy_root)
    with pytest.raises(FileNotFoundError, match='Occ3D label folder'):
        load_info_file(sparseocc_pickles[0], toy_root, occ_dir='gts')
    unknown = dict(content, infos=[dict(content['infos'][0], token='not-a-token')])
    with open(tmp_path / 'unknown.pkl', 'wb') as f:
        pickle.dump(unknown, f)
    with pytest.raises(DataFileError, match='not-a-token has no Occ3D labels'):
        load_info_file(str(tmp_path / 'unknown.pkl'), toy_root)
