"""Write a toy world in the nuScenes on-disk layout.

Output tree (``DIR``)::

    v1.0-trainval/*.json                    13 nuScenes tables
    samples/CAM_*/<log>__CAM_*__<ts>.jpg    keyframe images
    sweeps/CAM_*/<log>__CAM_*__<ts>.jpg     camera sweeps between keyframes
    samples/LIDAR_TOP/<log>__LIDAR_TOP__<ts>.pcd.bin   float32 [N, 5]
    maps/<token>.png                        driveable-surface mask, 0.1 m/px
    occ3d/<scene-name>/<sample-token>/labels.npz
    toy_split.json                          {"train": [...], "val": [...]}
    toy_world.json                          generator version and the options used

The tree is written into a hidden sibling directory and renamed into place
only when complete, so an interrupted or failing run leaves no ``DIR``.
"""
import dataclasses
import io
import json
import os
import shutil
import time
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Optional, Tuple

import numpy as np
from PIL import Image

from . import config
from .config import WorldConfig
from .geometry import points_in_obb, quat_yaw, rot_z
from .occupancy import OccupancyBuilder
from .render import Renderer, cast_lidar, lidar_points
from .sensors import calibration_record, make_cameras, make_lidar, sensor_world_pose
from .tables import (Tables, attribute_token, category_token, make_token, sensor_token,
                     visibility_token)
from .world import build_world

VERSION = 'v1.0-trainval'
# Bumped whenever the same options would write a different world; `toy_world.json` records it
# so a consumer (tools/demo.sh) can tell a world made by an older generator from the current.
# 2: Occ3D's construction of the labels (accumulated LiDAR, hole closing, half-resolution
#    camera visibility); 48-scene default.
GENERATOR_VERSION = 2
STAMP_FILE = 'toy_world.json'
LIMITS = dict(scenes=(1, 9999), frames_per_scene=(1, 2000), sweeps=(0, 50),
              width=(32, 4096), height=(18, 4096))


@dataclass
class Options:
    """What to generate (the CLI flags of tools/make_toy_nuscenes.py)."""
    out: Path
    scenes: int = 48
    frames_per_scene: int = 4
    sweeps: int = 2
    image_size: Tuple[int, int] = (800, 450)
    seed: int = 0
    val_scenes: Optional[int] = None  # default: a sixth of the scenes, at least one if >= 2
    # The label grid from (-40, -40, -1) m: Occ3D's by default (WorldConfig's occ_* fields).
    occ_voxel_size: float = 0.4
    occ_shape: Tuple[int, int, int] = (200, 200, 16)
    overwrite: bool = False
    progress: bool = True

    def resolved_val_scenes(self):
        """Number of val scenes (int): ``val_scenes``, or the default when it is None."""
        if self.val_scenes is not None:
            return self.val_scenes
        return max(1, round(self.scenes / 6)) if self.scenes >= 2 else 0


def validate(opts):
    """Raise ValueError with a one-line message for impossible options (``Options``)."""
    w, h = opts.image_size
    for name, value in (('scenes', opts.scenes), ('frames_per_scene', opts.frames_per_scene),
                        ('sweeps', opts.sweeps), ('width', w), ('height', h)):
        lo, hi = LIMITS[name]
        if not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
            raise ValueError(f'{name.replace("_", "-")} must be an integer in [{lo}, {hi}], '
                             f'got {value!r}')
    if len(opts.occ_shape) != 3 or any(not isinstance(n, (int, np.integer)) or n < 1
                                       for n in opts.occ_shape):
        raise ValueError(f'occ-shape must be 3 positive integers, got {opts.occ_shape!r}')
    if not opts.occ_voxel_size > 0:
        raise ValueError(f'occ-voxel-size must be positive, got {opts.occ_voxel_size!r}')
    if not isinstance(opts.seed, (int, np.integer)) or opts.seed < 0:
        raise ValueError(f'seed must be a non-negative integer, got {opts.seed!r}')
    val = opts.resolved_val_scenes()
    if not isinstance(val, (int, np.integer)) or not 0 <= val < opts.scenes:
        raise ValueError(f'val-scenes must be in [0, scenes - 1] = [0, {opts.scenes - 1}], '
                         f'got {val!r}')


# --------------------------------------------------------------------------
# file helpers
# --------------------------------------------------------------------------
def save_npz_deterministic(path, arrays):
    """Like ``np.savez_compressed`` but with fixed zip timestamps, so equal
    arrays give equal bytes (numpy stamps the current time into the archive).

    ``path`` (Path) is the .npz file, ``arrays`` a dict name -> ndarray.
    """
    with zipfile.ZipFile(path, 'w', compression=zipfile.ZIP_DEFLATED) as zf:
        for name, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
            info = zipfile.ZipInfo(name + '.npy', date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue())


def _log_name(cfg, timestamp_us):
    """(logfile, date) strings in nuScenes style, e.g. n015-2018-07-18-11-07-57+0800."""
    tz = timezone(timedelta(hours=cfg.log_utc_offset_hours))
    dt = datetime.fromtimestamp(timestamp_us / 1e6, tz)
    sign = '+' if cfg.log_utc_offset_hours >= 0 else '-'
    off = f'{sign}{abs(cfg.log_utc_offset_hours):02d}00'
    return 'n015-' + dt.strftime('%Y-%m-%d-%H-%M-%S') + off, dt.strftime('%Y-%m-%d')


def frame_times(cfg, keyframes, sweeps):
    """Frame times (float [T], s from scene start, sorted) and keyframe index per frame
    (int [T], -1 for sweeps) of ``keyframes`` keyframes with ``sweeps`` sweeps evenly
    spaced between consecutive ones."""
    dt = cfg.keyframe_interval_us / 1e6
    times, kf = [], []
    for k in range(keyframes):
        times.append(k * dt)
        kf.append(k)
        if k < keyframes - 1:
            for j in range(1, sweeps + 1):
                times.append((k + j / (sweeps + 1)) * dt)
                kf.append(-1)
    return np.asarray(times), np.asarray(kf)


def lidar_sweep_times(cfg, keyframes):
    """LiDAR sweep times (float [S], s from scene start, sorted): ``cfg.occ_lidar_sweeps_per_
    keyframe`` evenly spaced sweeps per keyframe interval, the keyframes among them, from
    ``cfg.occ_accumulation_margin`` before the first keyframe to as long after the last."""
    n = cfg.occ_lidar_sweeps_per_keyframe
    dt = cfg.keyframe_interval_us / 1e6
    margin = int(round(cfg.occ_accumulation_margin / dt * n))
    return np.arange(-margin, (keyframes - 1) * n + 1 + margin) * (dt / n)


def world_times(cfg, opts):
    """When a scene's world is sampled: the camera frames and the LiDAR sweeps, on a common
    microsecond grid so that a keyframe is one time of both. Returns the times (float [T], s
    from the scene start, sorted), and the index into them of every camera frame (int64, in
    ``frame_times`` order) and of every LiDAR sweep (int64 [S])."""
    cam_us = np.round(frame_times(cfg, opts.frames_per_scene, opts.sweeps)[0] * 1e6)
    lidar_us = np.round(lidar_sweep_times(cfg, opts.frames_per_scene) * 1e6)
    times_us = np.union1d(cam_us.astype(np.int64), lidar_us.astype(np.int64))
    return (times_us / 1e6, np.searchsorted(times_us, cam_us.astype(np.int64)),
            np.searchsorted(times_us, lidar_us.astype(np.int64)))


def keyframe_frames(cfg, opts):
    """int64 [K]: the index into ``world_times`` of every keyframe, in order."""
    return world_times(cfg, opts)[1][frame_times(cfg, opts.frames_per_scene, opts.sweeps)[1] >= 0]


def scene_world(cfg, opts, si):
    """The ``World`` of scene ``si`` (0-based) of a dataset made with ``opts`` (``Options``)
    and ``cfg`` (``WorldConfig``), sampled at ``world_times``."""
    return build_world(cfg, np.random.default_rng([int(opts.seed), si]), world_times(cfg, opts)[0])


def _visible_fraction(ann, views, viewpoint):
    """Fraction (float) of sample points on the box faces turned towards ``viewpoint``
    that some camera sees unoccluded (its depth buffer is not in front of them).

    ``ann`` is a ``World.annotations`` dict, ``viewpoint`` [3] global (m); ``views`` is a
    sequence of (R_cw [3, 3] global -> camera, camera position [3] global, ``Camera``,
    inverse depth buffer [H, W]) per camera.
    """
    w, l, h = ann['size']
    half = np.array([l / 2, w / 2, h / 2])
    R = rot_z(ann['yaw'])
    grid = np.array([-0.7, 0.0, 0.7])
    pts = []
    for ax in range(3):
        for sgn in (1.0, -1.0):
            if ax == 2 and sgn < 0:
                continue      # the bottom face sits on the ground
            n_local = np.zeros(3)
            n_local[ax] = sgn
            face_c = ann['centre'] + R @ (n_local * half)
            if np.dot(R @ n_local, viewpoint - face_c) <= 0:
                continue
            others = [a for a in range(3) if a != ax]
            for ga in grid:
                for gb in grid:
                    q = n_local * half
                    q[others[0]] = ga * half[others[0]]
                    q[others[1]] = gb * half[others[1]]
                    pts.append(ann['centre'] + R @ q)
    if not pts:
        return 0.0
    P = np.asarray(pts)
    seen = np.zeros(len(P), dtype=bool)
    for R_cw, pos, cam, wbuf in views:
        pc = (P - pos) @ R_cw.T
        z = pc[:, 2]
        front = z > 0.1
        zs = np.where(front, z, 1.0)
        u = np.round(cam.fx * pc[:, 0] / zs + cam.cx).astype(np.int64)
        v = np.round(cam.fy * pc[:, 1] / zs + cam.cy).astype(np.int64)
        ok = front & (u >= 0) & (u < cam.width) & (v >= 0) & (v < cam.height)
        wv = np.zeros(len(P))
        wv[ok] = wbuf[v[ok], u[ok]]
        depth = np.where(wv > 0, 1.0 / np.maximum(wv, 1e-12), np.inf)
        seen |= ok & (depth >= z * 0.98 - 0.3)
    return float(seen.mean())


# --------------------------------------------------------------------------
# the writer
# --------------------------------------------------------------------------
class DatasetWriter:
    """Writes all scenes into ``root`` and collects the nuScenes tables.

    Tokens are md5 digests of (seed, table, key), so they are stable for a
    seed and differ between seeds.  ``root`` (Path), ``opts`` (``Options``),
    ``cfg`` (``WorldConfig``).
    """

    def __init__(self, root, opts, cfg):
        self.root = root
        self.opts = opts
        self.cfg = cfg
        self.seed = int(opts.seed)
        self.cameras = make_cameras(cfg, *opts.image_size)
        self.lidar = make_lidar(cfg)
        channels = {cam.channel: 'camera' for cam in self.cameras}
        channels[config.LIDAR_CHANNEL] = 'lidar'
        self.tables = Tables(channels)
        for sub in ('samples', 'sweeps'):
            for cam in self.cameras:
                (root / sub / cam.channel).mkdir(parents=True, exist_ok=True)
        (root / 'samples' / config.LIDAR_CHANNEL).mkdir(parents=True, exist_ok=True)
        (root / 'maps').mkdir(exist_ok=True)
        (root / 'occ3d').mkdir(exist_ok=True)
        self.times, self.kf_index = frame_times(cfg, opts.frames_per_scene, opts.sweeps)
        self.world_times, self.cam_ti, self.lidar_ti = world_times(cfg, opts)
        self.counts = dict(images=0, keyframes=0, annotations=0)

    def token(self, *key):
        return make_token(self.seed, *key)

    def run(self, progress_bar):
        """Write every scene (``progress_bar``: tqdm, one step per frame) and the tables;
        returns the scene names (list of str)."""
        names = []
        for si in range(self.opts.scenes):
            names.append(self.write_scene(si, progress_bar))
        self.tables.write(str(self.root / VERSION))
        return names

    def write_scene(self, si, pbar):
        """Build scene ``si``'s world (seeded by (seed, si)), render every frame
        time in order and add its records; returns the scene name."""
        cfg, opts, tables = self.cfg, self.opts, self.tables
        world = scene_world(cfg, opts, si)
        range_noise_rng = np.random.default_rng([self.seed, si, 1])
        intensity_rng = np.random.default_rng([self.seed, si, 2])
        name = f'scene-{si + 1:04d}'
        ts0 = cfg.first_timestamp_us + si * cfg.scene_spacing_us
        stamps = ts0 + np.round(self.times * 1e6).astype(np.int64)
        logfile, date = _log_name(cfg, ts0)

        log_token = self.token('log', si)
        tables.add('log', dict(token=log_token, logfile=logfile, vehicle='n015', date_captured=date,
                               location='toy-town'))
        map_token = self.token('map', si)
        map_file = f'maps/{map_token}.png'
        Image.fromarray(world.raster.map_png_array()).save(self.root / map_file)
        tables.add('map', dict(category='semantic_prior', token=map_token, filename=map_file,
                               log_tokens=[log_token]))

        calib = {}
        for cam in self.cameras:
            t, q = calibration_record(cam.R_se, cam.t_se)
            calib[cam.channel] = tables.add('calibrated_sensor', dict(
                token=self.token('calib', si, cam.channel), sensor_token=sensor_token(cam.channel),
                translation=t, rotation=q, camera_intrinsic=cam.K.tolist()))['token']
        t, q = calibration_record(self.lidar.R_se, self.lidar.t_se)
        calib[config.LIDAR_CHANNEL] = tables.add('calibrated_sensor', dict(
            token=self.token('calib', si, config.LIDAR_CHANNEL),
            sensor_token=sensor_token(config.LIDAR_CHANNEL),
            translation=t, rotation=q, camera_intrinsic=[]))['token']

        n_kf = opts.frames_per_scene
        sample_tokens = [self.token('sample', si, k) for k in range(n_kf)]
        scene_token = self.token('scene', si)
        for k in range(n_kf):
            tables.add('sample', dict(token=sample_tokens[k],
                                      timestamp=int(stamps[self.kf_index == k][0]),
                                      prev=sample_tokens[k - 1] if k > 0 else '',
                                      next=sample_tokens[k + 1] if k < n_kf - 1 else '',
                                      scene_token=scene_token))
        tables.add('scene', dict(token=scene_token, log_token=log_token, nbr_samples=n_kf,
                                 first_sample_token=sample_tokens[0],
                                 last_sample_token=sample_tokens[-1],
                                 name=name, description=world.description))

        renderer = Renderer(cfg, world)
        # Every sweep of the scene is cast first: a keyframe's labels accumulate them all.
        occ_builder = OccupancyBuilder(cfg, world, self.cameras)
        sweeps = {}
        for ti in self.lidar_ti:
            ego_t, ego_yaw = world.ego_pose(ti)
            sweeps[ti] = cast_lidar(cfg, world, self.lidar, world.state(ti), ego_t, ego_yaw,
                                    range_noise_rng)
            occ_builder.add_sweep(ti, sweeps[ti])
        last_sd = {}        # channel -> its latest sample_data record
        annotations = {}    # object index -> list of per-keyframe records
        next_kf = 0
        for ti in range(len(self.times)):
            k = int(self.kf_index[ti])
            is_key = k >= 0
            if is_key:
                next_kf = k
            else:
                next_kf = int(self.kf_index[ti + 1:][self.kf_index[ti + 1:] >= 0][0])
            sample_token = sample_tokens[next_kf]
            stamp = int(stamps[ti])
            wti = int(self.cam_ti[ti])
            state = world.state(wti)
            ego_t, ego_yaw = world.ego_pose(wti)
            views = []
            for cam in self.cameras:
                rgb, wbuf, _ = renderer.render(cam, state, ego_t, ego_yaw)
                folder = 'samples' if is_key else 'sweeps'
                fname = f'{folder}/{cam.channel}/{logfile}__{cam.channel}__{stamp}.jpg'
                Image.fromarray(rgb).save(self.root / fname, format='JPEG',
                                          quality=cfg.jpeg_quality)
                self._add_sample_data(last_sd, cam.channel, si, ti, sample_token,
                                      calib[cam.channel], stamp, ego_t, ego_yaw, 'jpg', is_key,
                                      cam.height, cam.width, fname)
                self.counts['images'] += 1
                if is_key:
                    R_wc, pos = sensor_world_pose(ego_t, ego_yaw, cam.R_se, cam.t_se)
                    views.append((R_wc.T, pos, cam, wbuf))
            if is_key:
                self._write_keyframe(world, si, k, wti, name, sample_token, stamp, state, ego_t,
                                     ego_yaw, views, calib, last_sd, logfile, sweeps[wti],
                                     intensity_rng, occ_builder, annotations)
            pbar.update(1)
        self._write_instances(si, annotations)
        return name

    def _add_sample_data(self, last_sd, channel, si, ti, sample_token, calib_token, stamp, ego_t,
                         ego_yaw, fileformat, is_key, height, width, fname):
        token = self.token('sample_data', si, ti, channel)
        # nuScenes gives every sample_data its own ego pose, sharing the token
        self.tables.add('ego_pose', dict(token=token, timestamp=stamp, rotation=quat_yaw(ego_yaw),
                                         translation=[float(v) for v in ego_t]))
        prev = last_sd.get(channel)
        rec = self.tables.add('sample_data', dict(
            token=token, sample_token=sample_token, ego_pose_token=token,
            calibrated_sensor_token=calib_token, timestamp=stamp, fileformat=fileformat,
            is_key_frame=bool(is_key), height=int(height), width=int(width), filename=fname,
            prev=prev['token'] if prev else '', next=''))
        if prev:
            prev['next'] = token
        last_sd[channel] = rec

    def _write_keyframe(self, world, si, k, wti, scene_name, sample_token, stamp, state,
                        ego_t, ego_yaw, views, calib, last_sd, logfile, returns, intensity_rng,
                        occ_builder, annotations):
        """LiDAR sweep, Occ3D labels and annotation records of keyframe ``k`` (world frame
        index ``wti``; ``returns``: its sweep's ``cast_lidar`` output)."""
        points = lidar_points(world, state, returns, intensity_rng)
        fname = f'samples/{config.LIDAR_CHANNEL}/{logfile}__{config.LIDAR_CHANNEL}__{stamp}.pcd.bin'
        (self.root / fname).write_bytes(np.ascontiguousarray(points, dtype=np.float32).tobytes())
        self._add_sample_data(last_sd, config.LIDAR_CHANNEL, si, wti, sample_token,
                              calib[config.LIDAR_CHANNEL], stamp, ego_t, ego_yaw, 'pcd', True, 0, 0,
                              fname)
        labels = occ_builder.build(wti, ego_t, ego_yaw)
        occ_dir = self.root / 'occ3d' / scene_name / sample_token
        occ_dir.mkdir(parents=True)
        save_npz_deterministic(occ_dir / 'labels.npz', labels)

        R_wl, lidar_origin = sensor_world_pose(ego_t, ego_yaw, self.lidar.R_se, self.lidar.t_se)
        pts_w = points[:, :3].astype(np.float64) @ R_wl.T + lidar_origin
        for ann in world.annotations(wti):
            w, l, h = ann['size']
            n_pts = int(points_in_obb(pts_w, ann['centre'], ann['yaw'],
                                      (l / 2, w / 2, h / 2)).sum())
            vis = _visible_fraction(ann, views, lidar_origin)
            annotations.setdefault(ann['obj'], []).append(dict(
                keyframe=k, sample_token=sample_token, kind=ann['kind'], category=ann['category'],
                attribute=ann['attribute'], translation=[float(v) for v in ann['centre']],
                size=[float(v) for v in ann['size']], rotation=quat_yaw(ann['yaw']),
                num_lidar_pts=n_pts, visibility_token=visibility_token(vis)))
        self.counts['keyframes'] += 1

    def _write_instances(self, si, annotations):
        """Instances are contiguous keyframe runs of one object (an object that
        leaves the annotated range and comes back starts a new instance).

        ``annotations`` maps object index -> list of per-keyframe records (dicts).
        """
        for obj in sorted(annotations):
            recs = annotations[obj]
            runs, cur = [], [recs[0]]
            for r in recs[1:]:
                if r['keyframe'] == cur[-1]['keyframe'] + 1:
                    cur.append(r)
                else:
                    runs.append(cur)
                    cur = [r]
            runs.append(cur)
            for ri, run in enumerate(runs):
                inst_token = self.token('instance', si, obj, ri)
                tokens = [self.token('sample_annotation', si, obj, r['keyframe']) for r in run]
                for i, r in enumerate(run):
                    self.tables.add('sample_annotation', dict(
                        token=tokens[i], sample_token=r['sample_token'], instance_token=inst_token,
                        visibility_token=r['visibility_token'],
                        attribute_tokens=([attribute_token(r['attribute'])] if r['attribute']
                                          else []),
                        translation=r['translation'], size=r['size'], rotation=r['rotation'],
                        prev=tokens[i - 1] if i > 0 else '',
                        next=tokens[i + 1] if i < len(run) - 1 else '',
                        num_lidar_pts=r['num_lidar_pts'], num_radar_pts=0))
                    self.counts['annotations'] += 1
                self.tables.add('instance', dict(token=inst_token,
                                                 category_token=category_token(run[0]['category']),
                                                 nbr_annotations=len(run),
                                                 first_annotation_token=tokens[0],
                                                 last_annotation_token=tokens[-1]))


def stamp(opts):
    """What ``toy_world.json`` holds for a world made with ``opts`` (``Options``): the
    generator version and every option that shapes the world (dict)."""
    return dict(generator_version=GENERATOR_VERSION, scenes=opts.scenes,
                frames_per_scene=opts.frames_per_scene, sweeps=opts.sweeps,
                image_size=list(opts.image_size), seed=opts.seed,
                val_scenes=opts.resolved_val_scenes(), occ_voxel_size=opts.occ_voxel_size,
                occ_shape=list(opts.occ_shape))


# --------------------------------------------------------------------------
# atomic output directory
# --------------------------------------------------------------------------
def _check_target(out, overwrite):
    """Raise FileExistsError if ``out`` (Path) is not a directory, or is a non-empty one
    and not ``overwrite``."""
    if out.exists() or out.is_symlink():
        if not out.is_dir():
            raise FileExistsError(f'{out} exists and is not a directory')
        if any(out.iterdir()) and not overwrite:
            raise FileExistsError(f'{out} exists and is not empty (pass --overwrite to replace it)')


def generate(opts, cfg=None):
    """Generate the dataset described by ``opts`` (``Options``) with ``cfg``
    (``WorldConfig``; None: the defaults; its label grid is the one of ``opts``); returns a
    summary dict.

    Raises ValueError for bad options and FileExistsError for an occupied
    target; on any error (or KeyboardInterrupt) the partial output is removed.
    """
    from tqdm import tqdm

    validate(opts)
    cfg = dataclasses.replace(cfg or WorldConfig(), occ_voxel_size=float(opts.occ_voxel_size),
                              occ_shape=tuple(int(n) for n in opts.occ_shape))
    out = Path(opts.out).absolute()
    _check_target(out, opts.overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f'.{out.name}.partial-{os.getpid()}-{time.time_ns()}'
    tmp.mkdir()
    start = time.time()
    old = None
    try:
        writer = DatasetWriter(tmp, opts, cfg)
        total = opts.scenes * len(writer.times)
        with tqdm(total=total, desc='toy nuScenes', unit='frame',
                  disable=not opts.progress) as pbar:
            names = writer.run(pbar)
        n_val = opts.resolved_val_scenes()
        split = {'train': names[:len(names) - n_val], 'val': names[len(names) - n_val:]}
        with open(tmp / 'toy_split.json', 'w') as f:
            json.dump(split, f, indent=1)
            f.write('\n')
        with open(tmp / STAMP_FILE, 'w') as f:
            json.dump(stamp(opts), f, indent=1)
            f.write('\n')
        _check_target(out, opts.overwrite)
        if out.exists():
            old = out.parent / f'.{out.name}.old-{os.getpid()}-{time.time_ns()}'
            out.rename(old)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and old.exists() and not out.exists():
            old.rename(out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return dict(out=str(out), seconds=time.time() - start, scenes=opts.scenes, **writer.counts)
