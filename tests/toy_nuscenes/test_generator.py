"""Tests of the toy nuScenes world generator (tools/make_toy_nuscenes.py).

A tiny world (2 scenes x 3 keyframes, 1 sweep, 160 x 90 images) is generated
once per session; the checks read it back the way downstream tools do.
"""
import hashlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from toy_nuscenes import cli as make_toy_nuscenes
from toy_nuscenes import config
from toy_nuscenes import dataset as gen
from toy_nuscenes.geometry import matrix_from_quat

ROOT = Path(__file__).resolve().parents[2]

TINY = ['--scenes', '2', '--frames-per-scene', '3', '--sweeps', '1', '--image-size', '160', '90',
        '--no-progress']
CAMS = config.CAMERA_CHANNELS
ROAD, CAR, MANMADE = config.OCC['driveable_surface'], config.OCC['car'], config.OCC['manmade']
GROUND_CLASSES = [config.OCC[n] for n in ('driveable_surface', 'other_flat', 'sidewalk',
                                           'terrain')]
THING_CLASSES = [config.OCC[n] for n in ('others', 'barrier', 'bicycle', 'bus', 'car',
                                    'construction_vehicle', 'motorcycle', 'pedestrian',
                                    'traffic_cone', 'trailer', 'truck')]


def _generate(out, *extra):
    """Generates the tiny world (plus ``extra`` flags) into ``out`` (Path); returns ``out``."""
    make_toy_nuscenes.main(['--out', str(out), *TINY, *extra])
    return out


@pytest.fixture(scope='session')
def tiny(tmp_path_factory):
    """Path of the tiny world, generated once per session."""
    return _generate(tmp_path_factory.mktemp('toy') / 'nusc')


@pytest.fixture(scope='session')
def tables(tiny):
    return {name: json.loads((tiny / 'v1.0-trainval' / f'{name}.json').read_text())
            for name in ('scene', 'sample', 'sample_data', 'calibrated_sensor', 'ego_pose',
                         'sensor', 'log', 'map', 'category', 'attribute', 'visibility',
                         'instance', 'sample_annotation')}


@pytest.fixture(scope='session')
def nusc(tiny):
    devkit = pytest.importorskip('nuscenes.nuscenes')
    return devkit.NuScenes('v1.0-trainval', dataroot=str(tiny), verbose=False)


def _digest_tree(root):
    """{relative path: sha256} of every file under ``root`` (Path)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob('*')) if p.is_file()}


def _pose(rec):
    return matrix_from_quat(rec['rotation']), np.asarray(rec['translation'], dtype=np.float64)


def _labels(tiny, scene_name, sample_token):
    return np.load(tiny / 'occ3d' / scene_name / sample_token / 'labels.npz')


def _voxel_index(points_ego):
    """int64 [N, 3] Occ3D voxel indices of ego-frame points [N, 3] (m), and bool [N]: inside."""
    grid_min = np.asarray(config.WorldConfig().occ_range_min)
    ijk = np.floor((points_ego - grid_min) / 0.4).astype(np.int64)
    inside = np.all((ijk >= 0) & (ijk < np.asarray((200, 200, 16))), axis=1)
    return ijk, inside


def _lidar_in_ego(nusc, sd_token):
    sd = nusc.get('sample_data', sd_token)
    pts = np.fromfile(nusc.get_sample_data_path(sd_token), dtype=np.float32).reshape(-1, 5)
    R, t = _pose(nusc.get('calibrated_sensor', sd['calibrated_sensor_token']))
    return pts, pts[:, :3].astype(np.float64) @ R.T + t


def _project(nusc, cam_token, points_ego):
    """Ego-frame points -> (u, v, depth) in a camera, using only the tables."""
    cs = nusc.get('calibrated_sensor',
                  nusc.get('sample_data', cam_token)['calibrated_sensor_token'])
    R, t = _pose(cs)
    pc = (points_ego - t) @ R       # ego -> camera
    K = np.asarray(cs['camera_intrinsic'])
    z = pc[:, 2]
    zs = np.where(z > 0.1, z, 1.0)
    return K[0, 0] * pc[:, 0] / zs + K[0, 2], K[1, 1] * pc[:, 1] / zs + K[1, 2], z


def _is_sky(rgb):
    rgb = rgb.astype(np.int64)
    return (rgb[..., 2] > rgb[..., 0] + 15) & (rgb[..., 1] > 110)


def _is_grey(rgb):
    rgb = rgb.astype(np.int64)
    return (rgb.max(-1) - rgb.min(-1)) < 28


# --------------------------------------------------------------------------
# layout and tables
# --------------------------------------------------------------------------
def test_layout_and_tables(tiny, tables):
    assert json.loads((tiny / 'toy_split.json').read_text()) == {'train': ['scene-0001'],
                                                                 'val': ['scene-0002']}
    assert [s['name'] for s in tables['scene']] == ['scene-0001', 'scene-0002']
    hexre = re.compile(r'^[0-9a-f]{32}$')
    for name, recs in tables.items():
        if name != 'visibility':
            assert all(hexre.match(r['token']) for r in recs), name
    assert {s['channel'] for s in tables['sensor']} == set(CAMS) | {'LIDAR_TOP'}
    assert len(tables['sample']) == 6
    # keyframes at 2 Hz, one sweep per camera between keyframes, evenly spaced
    for scene in tables['scene']:
        samples = [s for s in tables['sample'] if s['scene_token'] == scene['token']]
        ts = sorted(s['timestamp'] for s in samples)
        assert np.all(np.diff(ts) == 500_000)
    sd = tables['sample_data']
    n_cam = sum(1 for r in sd if '/CAM_' in r['filename'])
    assert n_cam == 2 * (3 + 2) * 6
    for rec in sd:
        assert (tiny / rec['filename']).is_file()
        folder = rec['filename'].split('/')[0]
        assert folder == ('samples' if rec['is_key_frame'] else 'sweeps')
        assert re.match(r'^(samples|sweeps)/[A-Z_]+/'
                        r'n015-\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d\+0800__[A-Z_]+__\d{16}\.'
                        r'(jpg|pcd\.bin)$', rec['filename'])
    calib = {c['token']: c for c in tables['calibrated_sensor']}
    sensors = {s['token']: s for s in tables['sensor']}
    for c in calib.values():
        assert abs(np.linalg.norm(c['rotation']) - 1) < 1e-9
        if sensors[c['sensor_token']]['modality'] == 'camera':
            K = np.asarray(c['camera_intrinsic'])
            assert K.shape == (3, 3)
            # nuScenes focal lengths (1266 px, back camera 809 px at 1600 x 900) scaled to 160 x 90
            assert min(abs(K[0, 0] - 126.6), abs(K[0, 0] - 80.9)) < 1e-9
            np.testing.assert_allclose(K[:, 2], [80, 45, 1])
        else:
            assert c['camera_intrinsic'] == []
            # nuScenes LIDAR_TOP: lidar x axis points to the ego's right
            R = matrix_from_quat(c['rotation'])
            np.testing.assert_allclose(R @ [1, 0, 0], [0, -1, 0], atol=1e-9)
            np.testing.assert_allclose(c['translation'], [0.94, 0.0, 1.84])
    # camera frame: x right, y down, z forward; CAM_FRONT looks along ego +x
    front = next(c for c in calib.values() if sensors[c['sensor_token']]['channel'] == 'CAM_FRONT')
    R = matrix_from_quat(front['rotation'])
    np.testing.assert_allclose(R @ [0, 0, 1], [1, 0, 0], atol=1e-9)
    np.testing.assert_allclose(R @ [0, 1, 0], [0, 0, -1], atol=1e-9)
    back = next(c for c in calib.values() if sensors[c['sensor_token']]['channel'] == 'CAM_BACK')
    np.testing.assert_allclose(matrix_from_quat(back['rotation']) @ [0, 0, 1], [-1, 0, 0],
                               atol=1e-9)
    # the map png exists and every log has a map
    assert all((tiny / m['filename']).is_file() for m in tables['map'])
    assert (sorted(t for m in tables['map'] for t in m['log_tokens'])
            == sorted(l['token'] for l in tables['log']))


def test_devkit_loads_and_queries(nusc):
    from nuscenes.utils.geometry_utils import view_points

    assert len(nusc.scene) == 2
    assert nusc.field2token('scene', 'name', 'scene-0002') == [nusc.scene[1]['token']]
    n_boxes = 0
    for scene in nusc.scene:
        token, seen = scene['first_sample_token'], []
        while token:
            sample = nusc.get('sample', token)
            seen.append(token)
            assert set(sample['data']) == set(CAMS) | {'LIDAR_TOP'}
            assert len(sample['anns']) > 0
            for cam in CAMS:
                path, boxes, K = nusc.get_sample_data(sample['data'][cam])
                assert os.path.isfile(path) and path.endswith('.jpg')
                assert K.shape == (3, 3)
                for box in boxes:
                    corners = box.corners()
                    uv = view_points(corners, K, normalize=True)[:2]
                    inside = ((corners[2] > 0.1) & (uv[0] >= 0) & (uv[0] < 160)
                              & (uv[1] >= 0) & (uv[1] < 90))
                    assert inside.any()
                n_boxes += len(boxes)
            path, boxes, K = nusc.get_sample_data(sample['data']['LIDAR_TOP'])
            assert K is None and os.path.isfile(path)
            token = sample['next']
        assert seen[0] == scene['first_sample_token'] and seen[-1] == scene['last_sample_token']
        assert len(seen) == scene['nbr_samples'] == 3
    assert n_boxes > 10
    # per-channel sample_data chains: keyframe -> sweep -> keyframe, sweeps point at the next sample
    sample = nusc.get('sample', nusc.scene[0]['first_sample_token'])
    sd = nusc.get('sample_data', sample['data']['CAM_FRONT'])
    sweep = nusc.get('sample_data', sd['next'])
    assert not sweep['is_key_frame'] and sweep['sample_token'] == sample['next']
    assert sweep['timestamp'] - sd['timestamp'] == 250_000
    assert (nusc.get('sample_data', sweep['next'])['token']
            == nusc.get('sample', sample['next'])['data']['CAM_FRONT'])
    assert nusc.get('sample_data', sweep['prev'])['token'] == sd['token']
    path, boxes, K = nusc.get_sample_data(sweep['token'])      # interpolated boxes
    assert os.path.isfile(path)
    # instances link annotations across samples
    inst = max(nusc.instance, key=lambda r: r['nbr_annotations'])
    ann = nusc.get('sample_annotation', inst['first_annotation_token'])
    chain = [ann]
    while chain[-1]['next']:
        chain.append(nusc.get('sample_annotation', chain[-1]['next']))
    assert (len(chain) == inst['nbr_annotations']
            and chain[-1]['token'] == inst['last_annotation_token'])
    # the map mask loads lazily; the ego drives on the driveable surface
    log = nusc.get('log', nusc.scene[0]['log_token'])
    mask = nusc.get('map', log['map_token'])['mask']
    pose = nusc.get('ego_pose', sd['ego_pose_token'])
    assert mask.is_on_mask(pose['translation'][0], pose['translation'][1])[0]


# --------------------------------------------------------------------------
# determinism
# --------------------------------------------------------------------------
def test_deterministic(tiny, tmp_path):
    again = _generate(tmp_path / 'again')
    other = _generate(tmp_path / 'other', '--seed', '1')
    ref = _digest_tree(tiny)
    assert _digest_tree(again) == ref
    digests = _digest_tree(other)
    assert digests != ref
    common = set(digests) & set(ref)
    jpgs = [k for k in ref if k.endswith('.jpg')]
    assert not any(digests.get(k) == ref[k] for k in jpgs)
    assert len(common) < len(ref)   # tokens (hence occ3d paths) change with the seed


def test_deterministic_across_thread_counts(tiny, tmp_path):
    # The numba kernels run in parallel (prange); every file must be the same bytes on one
    # thread as on all of them, or machines with other core counts would train on other data.
    import numba
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        single = _generate(tmp_path / 'one_thread')
    finally:
        numba.set_num_threads(previous)
    assert _digest_tree(single) == _digest_tree(tiny)


# --------------------------------------------------------------------------
# labels and LiDAR
# --------------------------------------------------------------------------
def test_labels_npz(tiny, tables):
    scene_names = {s['token']: s['name'] for s in tables['scene']}
    present = np.zeros(18, dtype=bool)
    for sample in tables['sample']:
        lab = _labels(tiny, scene_names[sample['scene_token']], sample['token'])
        assert set(lab.files) == {'semantics', 'mask_lidar', 'mask_camera', 'instances'}
        sem = lab['semantics']
        for key in ('semantics', 'mask_lidar', 'mask_camera'):
            assert lab[key].dtype == np.uint8 and lab[key].shape == (200, 200, 16)
        assert lab['instances'].dtype == np.uint16 and lab['instances'].shape == (200, 200, 16)
        assert sem.max() <= 17
        for key in ('mask_lidar', 'mask_camera'):
            m = lab[key]
            assert set(np.unique(m)) <= {0, 1}
            assert 0.02 < m.mean() < 0.9
        # the ground's returns lie in the layer z in [-0.2, 0.2] (k = 2), nothing below; the
        # accumulated sweeps cover the ground around the ego but for what objects occlude
        assert np.all(sem[:, :, :2] == 17)
        ground = np.isin(sem[:, :, 2], GROUND_CLASSES)
        assert ground[80:120, 80:120].mean() > 0.7
        # LiDAR sees surfaces: occupied voxels are a small share of the grid
        assert 0.005 < (sem != 17).mean() < 0.1
        # the ego's own footprint is free
        assert np.all(sem[99:101, 99:101, 3:6] == 17)
        inst = lab['instances']
        is_thing = np.isin(sem, THING_CLASSES)
        assert np.all(inst[~is_thing] == 0) and np.all(inst[is_thing] > 0)
        # camera-visible region: everything visible lies in front of/at the first occupied voxel
        assert lab['mask_camera'][sem != 17].sum() > 0
        present |= np.bincount(sem.ravel(), minlength=18) > 0
    assert present[ROAD] and present[CAR] and present[MANMADE]
    assert present.sum() >= 8


def test_lidar_consistent_with_occupancy(nusc, tiny):
    total = hits = 0
    for scene in nusc.scene:
        token = scene['first_sample_token']
        while token:
            sample = nusc.get('sample', token)
            pts, ego = _lidar_in_ego(nusc, sample['data']['LIDAR_TOP'])
            assert pts.shape[0] > 5000
            assert set(np.unique(pts[:, 4]).astype(int)) <= set(range(32))
            rng = np.linalg.norm(pts[:, :3], axis=1)
            assert rng.max() <= 70.1 and rng.min() >= 0.9
            assert pts[:, 3].min() >= 0 and pts[:, 3].max() <= 255
            lab = _labels(tiny, scene['name'], token)
            ijk, inside = _voxel_index(ego)
            sem = lab['semantics'][ijk[inside, 0], ijk[inside, 1], ijk[inside, 2]]
            total += inside.sum()
            hits += (sem != 17).sum()
            # every point's voxel was traversed by its ray
            assert lab['mask_lidar'][ijk[inside, 0], ijk[inside, 1], ijk[inside, 2]].mean() > 0.99
            token = sample['next']
    assert hits / total > 0.97


# --------------------------------------------------------------------------
# images agree with the geometry
# --------------------------------------------------------------------------
def test_images_show_the_geometry(nusc, tiny):
    """LiDAR points (classified by the occupancy GT, not by the renderer) and
    unoccluded annotated cars must land on matching image content."""
    from nuscenes.utils.geometry_utils import view_points

    road_grey, road_total, wall_ok, wall_total = 0, 0, 0, 0
    car_ok, car_total = 0, 0
    for scene in nusc.scene:
        token = scene['first_sample_token']
        while token:
            sample = nusc.get('sample', token)
            _, ego = _lidar_in_ego(nusc, sample['data']['LIDAR_TOP'])
            lab = _labels(tiny, scene['name'], token)
            ijk, inside = _voxel_index(ego)
            cls = np.full(len(ego), -1)
            cls[inside] = lab['semantics'][ijk[inside, 0], ijk[inside, 1], ijk[inside, 2]]
            for cam in CAMS:
                img = np.asarray(Image.open(nusc.get_sample_data_path(sample['data'][cam]))
                                 .convert('RGB'))
                u, v, z = _project(nusc, sample['data'][cam], ego)
                ok = (z > 1.0) & (u >= 1) & (u < 159) & (v >= 1) & (v < 89)
                ui, vi = np.round(u).astype(int), np.round(v).astype(int)
                road = ok & (cls == ROAD) & (z < 25)
                px = img[vi[road], ui[road]]
                road_total += road.sum()
                road_grey += (_is_grey(px) & ~_is_sky(px)).sum()
                wall = ok & (cls == MANMADE) & (ego[:, 2] > 2.0)
                wall_total += wall.sum()
                wall_ok += (~_is_sky(img[vi[wall], ui[wall]])).sum()
                _, boxes, K = nusc.get_sample_data(sample['data'][cam])
                for box in boxes:
                    ann = nusc.get('sample_annotation', box.token)
                    if (box.name != 'vehicle.car' or ann['visibility_token'] != '4'
                            or box.center[2] > 40):
                        continue
                    cu, cv = view_points(box.center[:, None], K, normalize=True)[:2, 0]
                    if not (3 <= cu < 157 and 3 <= cv < 87):
                        continue
                    patch = img[int(round(cv)) - 1:int(round(cv)) + 2,
                                int(round(cu)) - 1:int(round(cu)) + 2]
                    colour = np.median(patch.reshape(-1, 3), axis=0)
                    road_like = _is_grey(colour) and 30 < colour.mean() < 110
                    car_total += 1
                    car_ok += int(not _is_sky(colour) and not road_like)
            token = sample['next']
    assert road_total > 200 and road_grey / road_total > 0.85
    assert wall_total > 100 and wall_ok / wall_total > 0.9
    assert car_total >= 3 and car_ok / car_total >= 0.75


def _ray_cast_numpy(origin, dirs, state, world):
    """Independent reference: first hit (class, t) of rays origin + t * dirs
    against every part box (slab test) and the ground plane z = 0."""
    c, s = np.cos(state.yaw), np.sin(state.yaw)                     # [P]
    rel = origin[None] - state.centre                               # [P, 3]
    o = np.stack([c * rel[:, 0] + s * rel[:, 1], -s * rel[:, 0] + c * rel[:, 1], rel[:, 2]], -1)
    d = np.stack([c[None] * dirs[:, None, 0] + s[None] * dirs[:, None, 1],
                  -s[None] * dirs[:, None, 0] + c[None] * dirs[:, None, 1],
                  np.broadcast_to(dirs[:, None, 2], (len(dirs), len(c)))], -1)   # [N, P, 3]
    with np.errstate(divide='ignore', invalid='ignore'):
        t1 = (-state.half[None] - o[None]) / d
        t2 = (state.half[None] - o[None]) / d
    t1 = np.where(np.isnan(t1), -np.inf, t1)
    t2 = np.where(np.isnan(t2), np.inf, t2)
    tn = np.minimum(t1, t2).max(-1)
    tf = np.maximum(t1, t2).min(-1)
    hit = (tn <= tf) & (tn > 0) & state.valid[None]
    tn = np.where(hit, tn, np.inf)
    best = tn.argmin(1)
    t_part = tn[np.arange(len(dirs)), best]
    with np.errstate(divide='ignore'):
        t_ground = np.where(dirs[:, 2] < 0, -origin[2] / dirs[:, 2], np.inf)
    cls = np.where(t_part < t_ground, world.part_class[best], -2)
    g = (t_ground <= t_part) & np.isfinite(t_ground)
    p = origin[None] + dirs * t_ground[:, None]
    codes = world.raster.lookup(p[g, 0], p[g, 1])
    cls[g] = np.asarray(config.GROUND_CODE_TO_OCC)[codes]
    return cls, np.minimum(t_part, t_ground)


def test_rendering_matches_independent_ray_casting(nusc, tiny):
    """Rebuild scene 0's world from the seed, render CAM_FRONT of keyframe 0
    with the calibration and ego pose read back from the tables: it must
    reproduce the JPEG, and its per-pixel surfaces must match a reference
    ray caster."""
    from toy_nuscenes.render import ID_GROUND, Renderer
    from toy_nuscenes.sensors import Camera
    cfg = config.WorldConfig()
    opts = gen.Options(out=None, frames_per_scene=3, sweeps=1)
    world = gen.scene_world(cfg, opts, 0)
    keyframe_0 = gen.keyframe_frames(cfg, opts)[0]
    sample = nusc.get('sample', nusc.scene[0]['first_sample_token'])
    sd = nusc.get('sample_data', sample['data']['CAM_FRONT'])
    cs = nusc.get('calibrated_sensor', sd['calibrated_sensor_token'])
    R_se, t_se = _pose(cs)
    R_ge, ego_t = _pose(nusc.get('ego_pose', sd['ego_pose_token']))
    ego_yaw = float(np.arctan2(R_ge[1, 0], R_ge[0, 0]))
    K = np.asarray(cs['camera_intrinsic'])
    cam = Camera('CAM_FRONT', sd['width'], sd['height'], K, R_se, t_se)
    state = world.state(keyframe_0)
    rgb, wbuf, ids = Renderer(cfg, world).render(cam, state, ego_t, ego_yaw)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format='JPEG', quality=cfg.jpeg_quality)
    again = np.asarray(Image.open(buf).convert('RGB')).astype(np.int64)
    disk = np.asarray(Image.open(nusc.get_sample_data_path(sd['token']))
                      .convert('RGB')).astype(np.int64)
    # the same pixels up to float round-off in the stored quaternions
    assert (again == disk).all(-1).mean() > 0.99

    vs, us = np.mgrid[1:sd['height']:3, 1:sd['width']:3]
    dirs_cam = np.stack([(us - K[0, 2]) / K[0, 0], (vs - K[1, 2]) / K[1, 1], np.ones(us.shape)],
                        -1).reshape(-1, 3)
    R_wc = R_ge @ R_se
    origin = ego_t + R_ge @ t_se
    ref_cls, ref_t = _ray_cast_numpy(origin, dirs_cam @ R_wc.T, state, world)
    pid = ids[vs, us].ravel()
    ren_cls = np.where(pid >= 0, world.part_class[np.maximum(pid, 0) // 6], -2)
    ground = pid == ID_GROUND
    pw = origin[None] + (dirs_cam[ground] @ R_wc.T) / wbuf[vs, us].ravel()[ground, None]
    ren_cls[ground] = np.asarray(config.GROUND_CODE_TO_OCC)[world.raster.lookup(pw[:, 0], pw[:, 1])]
    assert len(np.unique(ref_cls)) >= 4
    agree = ren_cls == ref_cls
    assert agree.mean() > 0.98
    solid = agree & (ref_cls >= 0) & (ref_t < 150)
    np.testing.assert_allclose(1.0 / wbuf[vs, us].ravel()[solid], ref_t[solid], rtol=1e-6)


def test_sky_is_above_the_horizon(nusc):
    """Level cameras: sky only above the principal point row (45), ground below."""
    upper = lower = 0.0
    for sample in nusc.sample:
        for cam in CAMS:
            img = np.asarray(Image.open(nusc.get_sample_data_path(sample['data'][cam]))
                             .convert('RGB'))
            sky = _is_sky(img)
            upper += sky[:40].mean()
            lower += sky[50:].mean()
    n = len(nusc.sample) * len(CAMS)
    assert upper / n > 0.2
    assert lower / n < 0.01


# --------------------------------------------------------------------------
# command line behaviour
# --------------------------------------------------------------------------
@pytest.mark.parametrize('args', [
    ['--scenes', '0'], ['--frames-per-scene', '0'], ['--sweeps', '-1'],
    ['--image-size', '10', '10'],
    ['--scenes', '2', '--val-scenes', '2'], ['--seed', '-3'], ['--image-size', '100'],
    ['--occ-shape', '100', '100', '0'], ['--occ-voxel-size', '0'],
])
def test_bad_arguments(tmp_path, capsys, args):
    with pytest.raises(SystemExit) as exc:
        make_toy_nuscenes.main(['--out', str(tmp_path / 'x'), *args])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err and 'error' in err[-1]
    assert not (tmp_path / 'x').exists()


def test_refuses_non_empty_dir_unless_overwrite(tmp_path):
    out = tmp_path / 'busy'
    out.mkdir()
    (out / 'keep.txt').write_text('x')
    with pytest.raises(SystemExit) as exc:
        make_toy_nuscenes.main(['--out', str(out), *TINY])
    assert 'not empty' in str(exc.value) and '\n' not in str(exc.value)
    assert (out / 'keep.txt').read_text() == 'x'
    empty = tmp_path / 'empty'
    empty.mkdir()
    make_toy_nuscenes.main(['--out', str(empty), *TINY, '--scenes', '1', '--frames-per-scene', '1',
                            '--val-scenes', '0'])
    assert (empty / 'v1.0-trainval' / 'scene.json').is_file()
    make_toy_nuscenes.main(['--out', str(out), *TINY, '--scenes', '1', '--frames-per-scene', '1',
                            '--val-scenes', '0', '--overwrite'])
    assert not (out / 'keep.txt').exists() and (out / 'toy_split.json').is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ['busy', 'empty']


@pytest.mark.parametrize('error', [RuntimeError, KeyboardInterrupt])
def test_failure_leaves_no_output(tmp_path, monkeypatch, error):
    calls = []
    original = gen.DatasetWriter._write_keyframe

    def failing(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise error('boom')
        return original(self, *args, **kwargs)

    monkeypatch.setattr(gen.DatasetWriter, '_write_keyframe', failing)
    out = tmp_path / 'nusc'
    with pytest.raises(error):
        make_toy_nuscenes.main(['--out', str(out), *TINY])
    assert len(calls) == 2
    assert list(tmp_path.iterdir()) == []


def test_sigterm_leaves_no_output(tmp_path):
    out = tmp_path / 'nusc'
    proc = subprocess.Popen([sys.executable, str(ROOT / 'tools' / 'make_toy_nuscenes.py'),
                             '--out', str(out), '--scenes', '3', '--frames-per-scene', '6',
                             '--image-size', '320', '180', '--no-progress'],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 90
        while time.time() < deadline and not list(tmp_path.glob('.nusc.partial-*/samples')):
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        assert list(tmp_path.glob('.nusc.partial-*')), 'generation never started'
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0
    assert list(tmp_path.iterdir()) == []
