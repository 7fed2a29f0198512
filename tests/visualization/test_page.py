"""visualization.page: the page's payloads (grids, images, ego path) and its determinism."""
import base64
import io
import json
import zlib

import numpy as np
import pytest
from PIL import Image

from core.occ3d import FREE_LABEL, GRID_SHAPE
from visualization import page
from visualization.style import CAMERA_GRID


def fake_info(tmp_path, token='tok', translation=(0.0, 0.0, 0.0), yaw_deg=0.0, size=(160, 90)):
    """An info with six small camera images under ``tmp_path`` (paths relative to it)."""
    pose = np.eye(4)
    yaw = np.radians(yaw_deg)
    pose[:2, :2] = [[np.cos(yaw), -np.sin(yaw)], [np.sin(yaw), np.cos(yaw)]]
    pose[:3, 3] = translation
    cams = {}
    for n, cam in enumerate(cam for row in CAMERA_GRID for cam in row):
        path = tmp_path / f'{token}_{cam}.jpg'
        if not path.exists():
            image = np.zeros((size[1], size[0], 3), np.uint8)
            image[..., n % 3] = 40 * n
            Image.fromarray(image).save(path)
        cams[cam] = {'data_path': path.name}
    return {'token': token, 'scene_name': 'scene-test', 'timestamp': 7, 'ego2global': pose,
            'cams': cams}


def page_data(text):
    """The JSON payload of a page."""
    start = text.index('<script type="application/json" id="occ-data">')
    start = text.index('>', start) + 1
    return json.loads(text[start:text.index('</script>', start)])


def decode_grid(payload):
    return np.frombuffer(zlib.decompress(base64.b64decode(payload)), np.uint8).reshape(GRID_SHAPE)


def test_grid_payload_round_trips_and_draws_ignore_as_free():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, FREE_LABEL + 1, GRID_SHAPE).astype(np.uint8)
    labels[0, 0, 0] = 255
    decoded = decode_grid(page.grid_payload(labels))
    assert decoded[0, 0, 0] == FREE_LABEL
    labels[0, 0, 0] = FREE_LABEL
    np.testing.assert_array_equal(decoded, labels)
    with pytest.raises(ValueError, match=r'grid has shape \(2, 2\)'):
        page.grid_payload(np.zeros((2, 2), np.uint8))


def test_image_payload_shrinks_to_the_width_and_keeps_the_aspect():
    image = Image.new('RGB', (1600, 900), (10, 200, 30))
    uri = page.image_payload(image, 480)
    assert uri.startswith('data:image/jpeg;base64,')
    with Image.open(io.BytesIO(base64.b64decode(uri.split(',', 1)[1]))) as jpeg:
        assert jpeg.format == 'JPEG' and jpeg.size == (480, 270)
    small = page.image_payload(Image.new('RGB', (160, 90)), 480)
    with Image.open(io.BytesIO(base64.b64decode(small.split(',', 1)[1]))) as jpeg:
        assert jpeg.size == (160, 90)  # never enlarged


def test_ego_path_is_in_the_frame_of_the_shown_keyframe(tmp_path):
    infos = [fake_info(tmp_path, 'a', (100.0, 50.0, 0.0), 90.0),
             fake_info(tmp_path, 'b', (100.0, 60.0, 0.0), 90.0),
             fake_info(tmp_path, 'c', (100.0, 200.0, 0.0), 90.0)]  # 150 m away: outside
    path = page.ego_path(infos[0], infos)
    # heading +y in the world: 10 m further along +y is 10 m ahead (+x) of the ego
    np.testing.assert_allclose(path, [[0.0, 0.0, 0.0], [10.0, 0.0, 0.0]], atol=1e-9)


def test_frame_data_and_page(tmp_path):
    gt = np.full(GRID_SHAPE, FREE_LABEL, np.uint8)
    gt[100:103, 100:103, 2:5] = 4
    info = fake_info(tmp_path, yaw_deg=30.0, translation=(5.0, -2.0, 0.0))
    metrics = {'RayIoU': 0.5, 'RayIoU@1': 0.25, 'RayIoU@2': 0.5, 'RayIoU@4': float('nan'),
               'mIoU': 40.123456}
    frame = page.frame_data(str(tmp_path), info, gt, gt, metrics, [info], image_width=80)
    assert frame['metrics'] == {'RayIoU': 0.5, 'RayIoU@1': 0.25, 'RayIoU@2': 0.5,
                                'RayIoU@4': None, 'mIoU': 40.1235}
    assert frame['ego'] == {'x': 5.0, 'y': -2.0, 'heading_deg': 30.0}
    assert [name for name, _ in frame['cameras']] == [c for row in CAMERA_GRID for c in row]
    text = page.page_html('a </script> title', [frame])
    assert text == page.page_html('a </script> title', [frame])  # byte-identical
    assert text.count('</script>') == 3  # plotly.js, the data, the page script
    data = page_data(text)
    assert data['title'] == 'a </script> title'
    np.testing.assert_array_equal(decode_grid(data['frames'][0]['gt']), gt)
    assert [c['name'] for c in data['classes']][4] == 'car'
    assert 'plotly.js v' in text  # the bundle, with its licence header
    assert '<script src' not in text and '<link' not in text  # nothing to fetch
    no_gt = page.frame_data(str(tmp_path), info, gt, image_width=80)
    assert no_gt['gt'] is None and no_gt['metrics'] is None
    with pytest.raises(ValueError, match='at least one frame'):
        page.page_html('empty', [])


def test_a_missing_camera_image_is_one_clear_error(tmp_path):
    info = fake_info(tmp_path)
    (tmp_path / info['cams']['CAM_BACK']['data_path']).unlink()
    with pytest.raises(FileNotFoundError, match='camera image not found'):
        page.frame_data(str(tmp_path), info, np.zeros(GRID_SHAPE, np.uint8))


def test_write_page_is_atomic(tmp_path):
    target = tmp_path / 'out' / 'p.html'
    page.write_page(str(target), 'x')
    assert target.read_text() == 'x'
    assert [p.name for p in target.parent.iterdir()] == ['p.html']
