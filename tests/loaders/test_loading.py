"""Loading transforms: images and past frames, occupancy labels, LiDAR depth targets,
and the errors for bad files."""
import os

import cv2
import numpy as np
import pytest

from core.errors import DataFileError
from core.occ3d import FREE_LABEL, GRID_SHAPE
from loaders.pipelines.jpeg import JpegDecoder
from loaders.pipelines.loading import LiDARDepthTarget, LoadMultiViewImages, LoadOccupancy
from tests.loaders import geometry_helpers as helpers


# ----------------------------------------------------------------------------- depth
def test_lidar_depth_target_keeps_the_nearest_point_per_cell(tmp_path):
    lidar2ego = np.eye(4)
    lidar2ego[:3, 3] = (0.0, 0.0, 1.5)  # LiDAR at the camera's height and x
    results = helpers.synthetic_results(width=96, height=64, focal=50.0, yaws=(0.0,),
                                        lidar2ego=lidar2ego)
    results['lidar2ego'] = lidar2ego
    # camera at ego (1.5, 0, 1.5) looking along +x; K: f = 50, centre (48, 32)
    def lidar_point(u, v, depth):  # LiDAR-frame point seen at pixel (u, v), given depth
        x_cam, y_cam = (u - 48) / 50 * depth, (v - 32) / 50 * depth
        return [1.5 + depth, -x_cam, -y_cam]
    points = [lidar_point(5.0, 5.0, 10.0),     # cell (0, 0)
              lidar_point(10.0, 12.0, 8.0),    # cell (0, 0), nearer -> kept
              lidar_point(15.4, 40.0, 20.0),   # u < 15.5 -> column 0, row 2
              lidar_point(15.6, 40.0, 30.0),   # u >= 15.5 -> column 1, row 2
              lidar_point(90.0, 60.0, 44.0),   # last cell (3, 5)
              lidar_point(50.0, 30.0, 50.0),   # beyond 45 m: dropped
              lidar_point(50.0, 30.0, 0.5),    # nearer than 1 m: dropped
              lidar_point(120.0, 30.0, 10.0),  # right of the image: dropped
              [-5.0, 0.0, 0.0]]                # behind the camera: dropped
    cloud = np.zeros((len(points), 5), np.float32)
    cloud[:, :3] = points
    path = tmp_path / 'points.pcd.bin'
    cloud.tofile(path)
    results['lidar_path'] = str(path)
    out = LiDARDepthTarget(stride=16, depth_range=(1.0, 45.0), num_views=1)(results)
    depth = out['gt_depth']
    assert depth.shape == (1, 4, 6) and depth.dtype == np.float32
    expected = np.zeros((4, 6), np.float32)
    expected[0, 0], expected[2, 0], expected[2, 1], expected[3, 5] = 8.0, 20.0, 30.0, 44.0
    np.testing.assert_allclose(depth[0], expected, atol=1e-4)


def test_lidar_file_with_a_wrong_size_is_named(tmp_path):
    path = tmp_path / 'bad.pcd.bin'
    np.zeros(7, np.float32).tofile(path)
    with pytest.raises(DataFileError, match='bad.pcd.bin: 7 floats'):
        LiDARDepthTarget().load_points(str(path))
    with pytest.raises(FileNotFoundError, match='missing.pcd.bin'):
        LiDARDepthTarget().load_points(str(tmp_path / 'missing.pcd.bin'))


# ----------------------------------------------------------------------------- occupancy
def _write_labels(path, shape=GRID_SHAPE, with_instances=True, **overrides):
    arrays = dict(semantics=np.full(shape, FREE_LABEL, np.uint8),
                  mask_lidar=np.ones(shape, np.uint8), mask_camera=np.zeros(shape, np.uint8))
    if with_instances:
        arrays['instances'] = np.arange(np.prod(shape), dtype=np.uint16).reshape(shape)
    arrays.update(overrides)
    np.savez_compressed(path, **arrays)
    return str(path)


def test_load_occupancy(tmp_path):
    path = _write_labels(tmp_path / 'labels.npz')
    out = LoadOccupancy(with_instances=True)(dict(occ_path=path))
    assert out['gt_occ_sem'].dtype == np.uint8 and out['gt_occ_sem'].shape == GRID_SHAPE
    assert out['mask_lidar'].all() and not out['mask_camera'].any()
    assert out['gt_occ_inst'].dtype == np.int32 and out['gt_occ_inst'].max() == 65535
    assert 'gt_occ_inst' not in LoadOccupancy()(dict(occ_path=path))


def test_occupancy_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='occupancy labels not found.*nowhere.npz'):
        LoadOccupancy()(dict(occ_path=str(tmp_path / 'nowhere.npz')))
    wrong = _write_labels(tmp_path / 'wrong.npz', shape=(200, 200, 8))
    with pytest.raises(DataFileError,
                       match=r'wrong.npz: occupancy labels: semantics has shape \(200, 200, 8\)'):
        LoadOccupancy()(dict(occ_path=wrong))
    no_inst = _write_labels(tmp_path / 'no_inst.npz', with_instances=False)
    with pytest.raises(DataFileError,
                       match=r"no_inst.npz: occupancy labels: lacks \['instances'\]"):
        LoadOccupancy(with_instances=True)(dict(occ_path=no_inst))
    bad_label = _write_labels(tmp_path / 'label.npz',
                              semantics=np.full(GRID_SHAPE, 40, np.uint8))
    with pytest.raises(DataFileError, match='label.npz: semantics holds label 40'):
        LoadOccupancy()(dict(occ_path=bad_label))
    corrupt = tmp_path / 'corrupt.npz'
    corrupt.write_bytes(open(wrong, 'rb').read()[:200])
    with pytest.raises(DataFileError, match='corrupt.npz: occupancy labels: unreadable npz'):
        LoadOccupancy()(dict(occ_path=str(corrupt)))


def test_load_occupancy_on_another_grid_with_merged_labels(tmp_path):
    shape = (100, 100, 8)
    semantics = np.full(shape, FREE_LABEL, np.uint8)
    semantics[0, 0, :3] = (3, 4, 16)  # bus, car, vegetation
    path = _write_labels(tmp_path / 'labels.npz', shape, semantics=semantics)
    merged = [0, 1, 2, 3, 3, 3, 2, 4, 5, 3, 3, 6, 6, 6, 6, 7, 8, 9]
    out = LoadOccupancy(num_classes=10, grid_shape=shape, label_map=merged)(
        dict(occ_path=path))
    assert out['gt_occ_sem'].shape == shape and out['gt_occ_sem'].dtype == np.uint8
    assert out['gt_occ_sem'][0, 0, :4].tolist() == [3, 3, 8, 9]
    assert (out['gt_occ_sem'] == 9).sum() == np.prod(shape) - 3
    with pytest.raises(DataFileError, match=r'semantics has shape \(100, 100, 8\), expected '
                                            r'\(200, 200, 16\)'):
        LoadOccupancy()(dict(occ_path=path))
    with pytest.raises(ValueError, match='label_map must be a list of labels in'):
        LoadOccupancy(num_classes=9, grid_shape=shape, label_map=merged)


# ----------------------------------------------------------------------------- JPEG
def _jpeg_bytes(bgr):
    ok, data = cv2.imencode('.jpg', bgr, [cv2.IMWRITE_JPEG_QUALITY, 100])
    assert ok
    return data.tobytes()


@pytest.mark.parametrize('backend', ['auto', 'cv2'])
def test_channel_order_is_explicit(backend):
    red = np.zeros((16, 16, 3), np.uint8)
    red[..., 2] = 255  # BGR red
    data = _jpeg_bytes(red)
    rgb = JpegDecoder(backend, 'rgb').decode(data)
    bgr = JpegDecoder(backend, 'bgr').decode(data)
    assert rgb.shape == (16, 16, 3) and rgb[..., 0].min() > 240 and rgb[..., 2].max() < 15
    np.testing.assert_array_equal(bgr, rgb[..., ::-1])


@pytest.mark.parametrize('backend', ['auto', 'cv2'])
def test_image_errors_name_the_file(tmp_path, backend):
    decoder = JpegDecoder(backend)
    with pytest.raises(FileNotFoundError, match='image not found.*nowhere.jpg'):
        decoder.read(str(tmp_path / 'nowhere.jpg'))
    data = _jpeg_bytes(np.full((32, 32, 3), 128, np.uint8))
    truncated = tmp_path / 'truncated.jpg'
    truncated.write_bytes(data[:len(data) // 2])
    with pytest.raises(DataFileError, match='truncated.jpg: corrupted JPEG'):
        decoder.read(str(truncated))
    garbage = tmp_path / 'garbage.jpg'
    garbage.write_bytes(b'\xff\xd8' + b'not a jpeg at all' * 10 + b'\xff\xd9')
    with pytest.raises(DataFileError, match='garbage.jpg: corrupted JPEG'):
        decoder.read(str(garbage))
    # a damaged middle with intact markers
    damaged = tmp_path / 'damaged.jpg'
    damaged.write_bytes(data[:len(data) // 2] + b'\xff\xd9')
    with pytest.raises(DataFileError, match='damaged.jpg: corrupted JPEG'):
        decoder.read(str(damaged))


def test_opencv_fallback_warns_once(monkeypatch):
    from loaders.pipelines import jpeg
    monkeypatch.setattr(jpeg, '_turbojpeg_or_none', lambda: None)
    monkeypatch.setattr(jpeg, '_warned_fallback', False)
    messages = []
    monkeypatch.setattr(jpeg, 'print_log', lambda msg, **kwargs: messages.append(msg))
    data = _jpeg_bytes(np.full((8, 8, 3), 50, np.uint8))
    for _ in range(2):
        decoder = JpegDecoder('auto')
        assert decoder.decode(data).shape == (8, 8, 3) and decoder.active_backend == 'cv2'
    assert len(messages) == 1 and 'OpenCV' in messages[0] and '\n' not in messages[0]


def test_turbojpeg_backend_or_clear_error():
    decoder = JpegDecoder('turbojpeg')
    try:
        backend = decoder.active_backend
    except RuntimeError as exc:
        assert 'libturbojpeg' in str(exc)
    else:
        assert backend == 'turbojpeg'


@pytest.mark.toy_world
def test_turbojpeg_and_opencv_decode_the_toy_images_alike(toy_root):
    # Machines with and without libturbojpeg must train on the same pixels.
    import glob
    turbo = JpegDecoder('turbojpeg')
    try:
        turbo.active_backend
    except RuntimeError:
        pytest.skip('libturbojpeg is not installed')
    opencv = JpegDecoder('cv2')
    paths = sorted(glob.glob(os.path.join(toy_root, 'sweeps', '*', '*.jpg')) +
                   glob.glob(os.path.join(toy_root, 'samples', 'CAM_*', '*.jpg')))
    assert len(paths) > 20
    for path in paths:
        np.testing.assert_array_equal(turbo.read(path), opencv.read(path), err_msg=path)


def test_bad_loader_arguments():
    with pytest.raises(ValueError, match='interval'):
        LoadMultiViewImages(num_frames=2, interval=[3, 2])
    with pytest.raises(ValueError, match='color_order'):
        LoadMultiViewImages(color_order='rgba')


# ----------------------------------------------------------------------------- toy world
@pytest.fixture(scope='module')
def train_dataset(toy_root):
    from loaders.datasets import Occ3DNuScenesDataset

    def build(max_past_frames, pipeline=()):
        dataset = Occ3DNuScenesDataset(ann_file='nuscenes_infos_train_sweep.pkl',
                                       data_root=toy_root, pipeline=list(pipeline),
                                       max_past_frames=max_past_frames)
        dataset.full_init()
        return dataset
    return build


@pytest.mark.toy_world
def test_past_frames_are_earlier_and_repeat_at_scene_start(train_dataset):
    # toy world: one camera sweep between keyframes 0.5 s apart
    dataset = train_dataset(4)
    loader = LoadMultiViewImages(num_frames=3, interval=1, decode_backend='cv2')
    stamps = []
    for idx in range(len(dataset)):
        out = loader(dataset.get_data_info(idx))
        assert len(out['img']) == 18 and out['ego2img'].shape == (18, 4, 4)
        per_frame = out['img_timestamp'].reshape(3, 6).mean(axis=1)
        stamps.append(per_frame)
        if idx == 0:  # scene start: no earlier frame, the current one repeats
            np.testing.assert_allclose(per_frame, [0, 0, 0], atol=0.05)
            np.testing.assert_array_equal(out['img'][0], out['img'][12])
            np.testing.assert_array_equal(out['ego2img'][0], out['ego2img'][12])
        else:
            assert per_frame[0] > per_frame[1] > per_frame[2]
    np.testing.assert_allclose(stamps[1], [0, -0.25, -0.5], atol=0.05)  # sweep, keyframe 0
    np.testing.assert_allclose(stamps[2], [0, -0.25, -0.5], atol=0.05)
    # interval 2 skips the sweeps and walks back through keyframes; frame 0 repeats
    loader = LoadMultiViewImages(num_frames=3, interval=2, decode_backend='cv2')
    per_frame = loader(dataset.get_data_info(2))['img_timestamp'].reshape(3, 6).mean(axis=1)
    np.testing.assert_allclose(per_frame, [0, -0.5, -1.0], atol=0.05)
    per_frame = loader(dataset.get_data_info(1))['img_timestamp'].reshape(3, 6).mean(axis=1)
    np.testing.assert_allclose(per_frame, [0, -0.5, -0.5], atol=0.05)


@pytest.mark.toy_world
def test_too_few_collected_past_frames_is_a_clear_error(train_dataset):
    loader = LoadMultiViewImages(num_frames=3, interval=2, decode_backend='cv2')
    with pytest.raises(ValueError, match='raise the dataset.s max_past_frames to at least 4'):
        loader(train_dataset(1).get_data_info(2))


@pytest.mark.toy_world
def test_missing_image_names_the_file(train_dataset, toy_root):
    info = train_dataset(0).get_data_info(0)
    info['cams']['CAM_BACK']['data_path'] = os.path.join(toy_root, 'samples', 'gone.jpg')
    with pytest.raises(FileNotFoundError, match='image not found.*gone.jpg'):
        LoadMultiViewImages(decode_backend='cv2')(info)
