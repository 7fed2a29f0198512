#!/usr/bin/env python
"""Write Occ3D-nuScenes info files (``nuscenes_infos_{split}_sweep.pkl``) from a nuScenes tree.

Examples::

    python tools/create_data.py --root data/nuscenes                        # v1.0-trainval
    python tools/create_data.py --root data/nuscenes --version v1.0-mini
    python tools/create_data.py --root data/nuscenes --version v1.0-test    # _test_ infos
    python tools/create_data.py --root data/toy_nuscenes                    # toy world

Splits: ``DIR/toy_split.json`` (``{"train": [...], "val": [...]}``, written by the toy
generator) when it exists, else the devkit's ``create_splits_scenes()`` (train/val for
v1.0-trainval, mini_train/mini_val for v1.0-mini, test for v1.0-test).

An existing info file is never replaced unless ``--overwrite`` is given (SparseOcc's infos
carry the same names in the same folder); the check runs before any work.

Each pickle holds ``dict(metainfo=..., data_list=[info, ...])`` (the OpenMMLab 2.0 info
layout), one info per keyframe, scenes in split order, keyframes in time order. See
:func:`keyframe_info` for the keys. Paths are relative to the data root; matrices are
float64 numpy arrays; timestamps are integer microseconds (nuScenes).
"""
import argparse
import json
import os
import pickle

import numpy as np

from core.atomic_file import atomic_path
from core.ego_pose import invert_pose, pose_matrix
from core.occ3d import NUSCENES_CAMERAS

INFO_VERSION = 1
TOY_SPLIT_FILE = 'toy_split.json'
LIDAR_CHANNEL = 'LIDAR_TOP'
# nuScenes version -> (devkit split name, output split name)
DEVKIT_SPLITS = {
    'v1.0-trainval': (('train', 'train'), ('val', 'val')),
    'v1.0-mini': (('mini_train', 'train'), ('mini_val', 'val')),
    'v1.0-test': (('test', 'test'),),
}


def info_filename(split):
    """``nuscenes_infos_<split>_sweep.pkl``, the name the dataset configs expect."""
    return f'nuscenes_infos_{split}_sweep.pkl'


def _pose_fields(prefix, record):
    """``<prefix>_translation`` (3 floats), ``<prefix>_rotation`` (quaternion [w, x, y, z])
    and ``<prefix>`` (float64 [4, 4]) of a calibrated_sensor / ego_pose record."""
    return {f'{prefix}_translation': list(map(float, record['translation'])),
            f'{prefix}_rotation': list(map(float, record['rotation'])),
            prefix: pose_matrix(record['translation'], record['rotation'])}


def camera_info(nusc, sample_data, lidar2ego, lidar_ego2global):
    """Geometry and file of one camera image (keyframe or sweep).

    Args:
        nusc: ``NuScenes`` instance.
        sample_data (dict): the image's ``sample_data`` record.
        lidar2ego, lidar_ego2global: float64 [4, 4] of the keyframe's LIDAR_TOP.

    Returns:
        dict with
        ``data_path`` (str, relative to the root), ``sample_data_token``, ``timestamp``
        (int, us), ``cam_intrinsic`` (float64 [3, 3], pixels of the stored image, pixel
        centres at integer coordinates), ``sensor2ego`` (camera -> ego at the image's
        timestamp, [4, 4], plus ``_translation``/``_rotation``), ``ego2global`` (the ego
        pose at the image's timestamp, [4, 4], plus ``_translation``/``_rotation``),
        ``sensor2lidar`` (camera -> the keyframe's LiDAR frame through the global frame,
        [4, 4]) with ``sensor2lidar_rotation`` [3, 3] and ``sensor2lidar_translation`` [3]
        (mmdet3d's convention: ``p_lidar = R @ p_cam + t``), ``width``, ``height``.
    """
    calib = nusc.get('calibrated_sensor', sample_data['calibrated_sensor_token'])
    ego = nusc.get('ego_pose', sample_data['ego_pose_token'])
    info = dict(data_path=sample_data['filename'], sample_data_token=sample_data['token'],
                timestamp=int(sample_data['timestamp']),
                cam_intrinsic=np.asarray(calib['camera_intrinsic'], dtype=np.float64),
                width=int(sample_data['width']), height=int(sample_data['height']))
    info.update(_pose_fields('sensor2ego', calib))
    info.update(_pose_fields('ego2global', ego))
    # The camera's ego pose differs from the LiDAR's (different timestamps): go through
    # the global frame rather than assuming a shared ego frame.
    sensor2lidar = (invert_pose(lidar2ego) @ invert_pose(lidar_ego2global)
                    @ info['ego2global'] @ info['sensor2ego'])
    info.update(sensor2lidar=sensor2lidar, sensor2lidar_rotation=sensor2lidar[:3, :3].copy(),
                sensor2lidar_translation=sensor2lidar[:3, 3].copy())
    return info


def _sweeps_of_channel(nusc, keyframe_sd):
    """Non-keyframe sample_data records of one channel between the previous keyframe and
    this one, newest first."""
    sweeps = []
    sd = keyframe_sd
    while sd['prev']:
        sd = nusc.get('sample_data', sd['prev'])
        if sd['is_key_frame']:
            break
        sweeps.append(sd)
    return sweeps


def camera_sweeps(nusc, sample, lidar2ego, lidar_ego2global, cameras=NUSCENES_CAMERAS):
    """Six-camera sweep frames between the previous keyframe and ``sample``, newest first.

    The cameras are not triggered together and may drop frames, so a sweep frame is
    built around each sweep of the first camera, taking for every other camera its sweep
    nearest in time; frames for which some camera has no sweep at all are skipped.

    Returns:
        list of dict: camera name -> :func:`camera_info` dict.
    """
    per_cam = {cam: _sweeps_of_channel(nusc, nusc.get('sample_data', sample['data'][cam]))
               for cam in cameras}
    if any(not sweeps for sweeps in per_cam.values()):
        return []
    frames = []
    for ref in per_cam[cameras[0]]:
        frame = {}
        for cam in cameras:
            nearest = min(per_cam[cam], key=lambda sd: abs(sd['timestamp'] - ref['timestamp']))
            frame[cam] = camera_info(nusc, nearest, lidar2ego, lidar_ego2global)
        frames.append(frame)
    return frames


def keyframe_info(nusc, sample, scene, frame_idx, occ_dir, cameras=NUSCENES_CAMERAS):
    """The info of one keyframe.

    Returns:
        dict with ``token``, ``scene_name``, ``scene_token``, ``frame_idx`` (0-based index
        in the scene), ``prev`` / ``next`` (keyframe tokens, '' at the scene ends),
        ``timestamp`` (int us, the LiDAR's), ``lidar_path`` (relative; float32 [N, 5]
        x, y, z, intensity, ring in the LiDAR frame), ``lidar2ego`` and ``ego2global``
        ([4, 4] each, plus ``_translation`` / ``_rotation``; this ego frame is the one the
        occupancy grid lives in), ``occ_path`` (``<occ_dir>/<scene>/<token>/labels.npz``),
        ``cams`` (camera name -> :func:`camera_info`) and ``cam_sweeps`` (list, newest
        first, of camera name -> :func:`camera_info`; see :func:`camera_sweeps`).
    """
    lidar_sd = nusc.get('sample_data', sample['data'][LIDAR_CHANNEL])
    info = dict(token=sample['token'], scene_name=scene['name'], scene_token=scene['token'],
                frame_idx=frame_idx, prev=sample['prev'], next=sample['next'],
                timestamp=int(sample['timestamp']), lidar_path=lidar_sd['filename'],
                occ_path=os.path.join(occ_dir, scene['name'], sample['token'], 'labels.npz'))
    info.update(_pose_fields('lidar2ego',
                             nusc.get('calibrated_sensor', lidar_sd['calibrated_sensor_token'])))
    info.update(_pose_fields('ego2global', nusc.get('ego_pose', lidar_sd['ego_pose_token'])))
    info['cams'] = {cam: camera_info(nusc, nusc.get('sample_data', sample['data'][cam]),
                                     info['lidar2ego'], info['ego2global'])
                    for cam in cameras}
    info['cam_sweeps'] = camera_sweeps(nusc, sample, info['lidar2ego'], info['ego2global'],
                                       cameras)
    return info


def scene_infos(nusc, scene, occ_dir, progress=None):
    """Infos of every keyframe of ``scene`` in time order (``progress`` is updated per
    keyframe when given)."""
    infos = []
    token = scene['first_sample_token']
    while token:
        sample = nusc.get('sample', token)
        infos.append(keyframe_info(nusc, sample, scene, len(infos), occ_dir))
        if progress is not None:
            progress.update(1)
        token = sample['next']
    return infos


def resolve_splits(root, version):
    """Scene names per output split.

    Returns:
        tuple(dict, str): split name -> list of scene names, and where they came from.
    """
    toy_file = os.path.join(root, TOY_SPLIT_FILE)
    if os.path.isfile(toy_file):
        with open(toy_file) as f:
            splits = json.load(f)
        return {name: list(scenes) for name, scenes in splits.items()}, toy_file
    if version not in DEVKIT_SPLITS:
        raise ValueError(f'no devkit split for version {version!r} and no {toy_file}')
    from nuscenes.utils.splits import create_splits_scenes
    devkit = create_splits_scenes(verbose=False)
    return ({out: list(devkit[name]) for name, out in DEVKIT_SPLITS[version]},
            'nuscenes.utils.splits.create_splits_scenes')


def write_pickle_atomic(obj, path):
    """Pickles ``obj`` to ``path`` through a temporary file in the same folder, so readers
    never see a partial file and an interrupted run leaves the old one intact."""
    with atomic_path(path) as tmp, open(tmp, 'wb') as f:
        pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)


def create_infos(root, version='v1.0-trainval', out_dir=None, occ_dir='occ3d', progress=True,
                 overwrite=False):
    """Writes one info pickle per split of ``version`` and returns their paths
    (dict split -> path).

    Raises:
        FileNotFoundError: ``root`` or ``root/version`` is missing.
        FileExistsError: an output file exists and ``overwrite`` is False (checked for
            every split before anything is read or written).
        ValueError: a split names a scene that the tables lack.
    """
    from nuscenes import NuScenes
    from tqdm import tqdm

    if not os.path.isdir(root):
        raise FileNotFoundError(f'data root not found: {root}')
    if not os.path.isdir(os.path.join(root, version)):
        raise FileNotFoundError(f'nuScenes version folder not found: '
                                f'{os.path.join(root, version)} (expected the {version} tables)')
    out_dir = root if out_dir is None else out_dir
    splits, split_source = resolve_splits(root, version)
    existing = [info_filename(split) for split in splits
                if os.path.exists(os.path.join(out_dir, info_filename(split)))]
    if existing and not overwrite:
        raise FileExistsError(f'{", ".join(existing)} already in {out_dir} (SparseOcc\'s infos '
                              f'share these names): pass --overwrite to replace, or --out-dir '
                              f'DIR')
    os.makedirs(out_dir, exist_ok=True)
    nusc = NuScenes(version=version, dataroot=root, verbose=False)
    scene_by_name = {scene['name']: scene for scene in nusc.scene}
    # The devkit's lists name all 850 (+150 test) scenes; a version holds only its own.
    # The toy split must match exactly.
    selected = {}
    for split, names in splits.items():
        missing = [n for n in names if n not in scene_by_name]
        if missing and split_source != 'nuscenes.utils.splits.create_splits_scenes':
            raise ValueError(f'{split_source}: scenes {missing[:5]} are not in {version}')
        selected[split] = [scene_by_name[n] for n in names if n in scene_by_name]
    total = sum(scene['nbr_samples'] for scenes in selected.values() for scene in scenes)
    written = {}
    with tqdm(total=total, desc='create_data', unit='keyframe', disable=not progress) as bar:
        for split, scenes in selected.items():
            infos = [info for scene in scenes for info in scene_infos(nusc, scene, occ_dir, bar)]
            metainfo = dict(dataset='occ3d-nuscenes', version=version, split=split,
                            info_version=INFO_VERSION, cameras=list(NUSCENES_CAMERAS),
                            split_source=split_source)
            path = os.path.join(out_dir, info_filename(split))
            write_pickle_atomic(dict(metainfo=metainfo, data_list=infos), path)
            written[split] = path
    return written


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--root', required=True, help='nuScenes data root (DIR)')
    parser.add_argument('--version', default='v1.0-trainval',
                        help='nuScenes version folder under DIR')
    parser.add_argument('--out-dir', default=None, help='where to write the pickles (default DIR)')
    parser.add_argument('--occ-dir', default='occ3d',
                        help='folder of the Occ3D labels under DIR (the Occ3D release: gts)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace existing info files (default: refuse)')
    parser.add_argument('--no-progress', action='store_true', help='hide the progress bar')
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        written = create_infos(args.root, args.version, args.out_dir, args.occ_dir,
                               progress=not args.no_progress, overwrite=args.overwrite)
    except (FileNotFoundError, FileExistsError, ValueError) as exc:
        raise SystemExit(f'create_data: error: {exc}')
    for split, path in written.items():
        print(f'{split}: {path}')
    return written


if __name__ == '__main__':
    main()
