"""Info pickles: this project's layout, built from nuScenes tables, and the two layouts the
datasets and tools read, returned in one form.

* **GD-OCC** (written by ``tools/create_data.py`` through :func:`write_info_file`):
  ``dict(metainfo=..., data_list=[info, ...])`` (the OpenMMLab 2.0 info layout), one info
  per keyframe as :func:`keyframe_info` documents it; returned unchanged. Paths are relative
  to the data root; matrices are float64 numpy arrays; timestamps are integer microseconds
  (nuScenes).
* **SparseOcc** (mmdet3d v1.0.0rc6's ``nuscenes_infos_*.pkl`` completed by SparseOcc's
  ``gen_sweep_info.py``): ``dict(infos=[info, ...], metadata=dict(version=...))``, per
  keyframe ``token``, ``timestamp`` (int us), ``lidar_path``, quaternion lists
  ``lidar2ego_translation`` / ``_rotation`` and ``ego2global_translation`` / ``_rotation``,
  ``cams`` (camera name -> ``data_path``, ``cam_intrinsic`` [3, 3], ``timestamp``,
  ``sensor2global_rotation`` [3, 3] and ``sensor2global_translation`` [3] in the row-vector
  convention ``p_global = p_cam @ R + t``, plus ``sensor2lidar_*``) and ``sweeps`` (up to 5
  camera frames between the previous keyframe and this one, newest first, each camera name
  -> the same keys but ``sensor2lidar_*``). It stores no scene names: they come from the
  Occ3D folder ``<data_root>/<occ_dir>/<scene>/<token>/labels.npz``, as SparseOcc derives
  them. :func:`convert_sparseocc_infos` turns these infos into GD-OCC infos in memory.

SparseOcc's ``data_path`` / ``lidar_path`` start with the data root it was run with
(``data/nuscenes/samples/...``); the converted infos hold them relative to the data root,
as GD-OCC's do (see :func:`relative_to_root`).
"""
import os
import pickle

import numpy as np

from .atomic_file import atomic_path
from .ego_pose import invert_pose, pose_matrix
from .errors import DataFileError, missing_file
from .occ3d import NUSCENES_CAMERAS

INFO_VERSION = 1
LIDAR_CHANNEL = 'LIDAR_TOP'

LAYOUTS = ('dict(metainfo=..., data_list=[...]) as written by tools/create_data.py',
           "dict(infos=[...], metadata=...) as written by mmdet3d v1.0 + SparseOcc's "
           'gen_sweep_info.py')
# nuScenes' top-level data folders: a relative path naming one of them starts there.
NUSCENES_DATA_FOLDERS = ('samples', 'sweeps')


def _pose_fields(prefix, translation, rotation):
    """``<prefix>_translation`` (3 floats), ``<prefix>_rotation`` (quaternion [w, x, y, z])
    and ``<prefix>`` (float64 [4, 4]) of a pose given as nuScenes stores it."""
    return {f'{prefix}_translation': [float(v) for v in translation],
            f'{prefix}_rotation': [float(v) for v in rotation],
            prefix: pose_matrix(translation, rotation)}


def info_filename(split):
    """``nuscenes_infos_<split>_sweep.pkl``, the name the dataset configs expect."""
    return f'nuscenes_infos_{split}_sweep.pkl'


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
    info.update(_pose_fields('sensor2ego', calib['translation'], calib['rotation']))
    info.update(_pose_fields('ego2global', ego['translation'], ego['rotation']))
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
    calib = nusc.get('calibrated_sensor', lidar_sd['calibrated_sensor_token'])
    ego = nusc.get('ego_pose', lidar_sd['ego_pose_token'])
    info.update(_pose_fields('lidar2ego', calib['translation'], calib['rotation']))
    info.update(_pose_fields('ego2global', ego['translation'], ego['rotation']))
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


def write_info_file(path, infos, version, split, split_source):
    """Writes the GD-OCC info pickle of one split (``infos`` from :func:`scene_infos`)
    through a temporary file in the same folder, so readers never see a partial file and an
    interrupted run leaves the old one intact.

    Args:
        path (str): the pickle (:func:`info_filename` in the data root, as configs expect).
        infos (list[dict]): the split's keyframe infos, scenes in split order.
        version (str): the nuScenes version folder (``v1.0-trainval``, ...).
        split (str): ``train``, ``val`` or ``test``.
        split_source (str): where the split's scene list came from (a file or the devkit).
    """
    metainfo = dict(dataset='occ3d-nuscenes', version=version, split=split,
                    info_version=INFO_VERSION, cameras=list(NUSCENES_CAMERAS),
                    split_source=split_source)
    with atomic_path(path) as tmp, open(tmp, 'wb') as f:
        pickle.dump(dict(metainfo=metainfo, data_list=infos), f,
                    protocol=pickle.HIGHEST_PROTOCOL)


def info_layout(content):
    """``'gdocc'`` or ``'sparseocc'``: the layout of an unpickled info file, else None."""
    if not isinstance(content, dict):
        return None
    if {'metainfo', 'data_list'} <= set(content) and isinstance(content['data_list'], list):
        first = content['data_list'][0] if content['data_list'] else None
        if first is None or (isinstance(first, dict) and {'cams', 'cam_sweeps'} <= set(first)):
            return 'gdocc'
        return None  # e.g. mmdet3d 1.x infos (``images``, not ``cams``)
    if {'infos', 'metadata'} <= set(content) and isinstance(content['infos'], list):
        return 'sparseocc'
    return None


def load_info_file(path, data_root='', occ_dir='occ3d'):
    """Reads an info pickle of either layout.

    Args:
        path (str): the pickle.
        data_root (str): the nuScenes root its paths are relative to (or start with).
        occ_dir (str): the Occ3D label folder under ``data_root`` (SparseOcc infos take
            their scene names from it).

    Returns:
        tuple(dict, list[dict]): metainfo (``layout``: ``'gdocc'`` or ``'sparseocc'``) and
        the GD-OCC infos, paths relative to ``data_root`` (absolute ones stay absolute).

    Raises:
        FileNotFoundError: the file (or, for SparseOcc infos, a scene folder) is missing.
        DataFileError: not a pickle, or neither layout (the message names both).
    """
    if not os.path.isfile(path):
        raise missing_file(path, 'info file')
    try:
        with open(path, 'rb') as f:
            content = pickle.load(f)
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError) as exc:
        raise DataFileError(path, f'not a readable info pickle ({exc})') from exc
    layout = info_layout(content)
    if layout is None:
        raise DataFileError(path, f'expected {LAYOUTS[0]}, or {LAYOUTS[1]}')
    if layout == 'gdocc':
        return dict(content['metainfo'], layout='gdocc'), content['data_list']
    metainfo = dict(content.get('metadata') or {}, layout='sparseocc')
    occ_root = os.path.join(data_root, occ_dir)
    try:
        infos = convert_sparseocc_infos(content['infos'], scenes_of_occ_folder(occ_root),
                                        data_root, occ_dir, path)
    except KeyError as exc:
        raise DataFileError(path, f'SparseOcc info without {exc}') from None
    return metainfo, infos


def scenes_of_occ_folder(occ_root):
    """Sample token -> scene name from the Occ3D folder ``<occ_root>/<scene>/<token>/``.

    Raises:
        FileNotFoundError: ``occ_root`` is missing.
    """
    if not os.path.isdir(occ_root):
        raise missing_file(occ_root, 'Occ3D label folder (SparseOcc infos take their scene '
                                     'names from it)')
    scenes = {}
    with os.scandir(occ_root) as entries:
        for scene in entries:
            if scene.is_dir():
                with os.scandir(scene.path) as tokens:
                    scenes.update({token.name: scene.name for token in tokens
                                   if token.is_dir()})
    return scenes


def relative_to_root(path, data_root):
    """``path`` relative to ``data_root`` where it starts with it (``data/nuscenes/samples/x``
    -> ``samples/x``), or, when relative, from its first nuScenes data folder
    (``samples`` / ``sweeps``) on, whatever root it was written with; else unchanged."""
    norm = os.path.normpath(path)
    root = os.path.normpath(data_root) if data_root else ''
    if root and root != '.' and (norm == root or norm.startswith(root + os.sep)):
        return os.path.relpath(norm, root)
    if not os.path.isabs(norm):
        parts = norm.split(os.sep)
        for i, part in enumerate(parts):
            if part in NUSCENES_DATA_FOLDERS:
                return os.path.join(*parts[i:])
    return path




def _sensor2global(cam, where):
    """float64 [4, 4] camera -> global of a SparseOcc camera entry (stored transposed)."""
    try:
        rotation = np.asarray(cam['sensor2global_rotation'], dtype=np.float64)
        translation = np.asarray(cam['sensor2global_translation'], dtype=np.float64)
    except KeyError as exc:
        raise KeyError(f'{exc.args[0]!r} in {where} (the camera poses of SparseOcc\'s '
                       f'gen_sweep_info.py)') from None
    matrix = np.eye(4)
    matrix[:3, :3] = rotation.T  # SparseOcc: p_global = p_cam @ R + t
    matrix[:3, 3] = translation
    return matrix


def _sparseocc_camera_info(cam, lidar2global, data_root, where):
    """A GD-OCC camera info from a SparseOcc camera entry.

    The camera's ego pose is not stored, only its product with the mounting; the info
    therefore carries ``sensor2global`` (float64 [4, 4]), which ``camera_geometry.ego2cam_of``
    prefers, and ``sensor2lidar`` [4, 4] derived from it.
    """
    sensor2global = _sensor2global(cam, where)
    sensor2lidar = invert_pose(lidar2global) @ sensor2global
    info = dict(data_path=relative_to_root(cam['data_path'], data_root),
                timestamp=int(cam['timestamp']),
                cam_intrinsic=np.asarray(cam['cam_intrinsic'], dtype=np.float64),
                sensor2global=sensor2global, sensor2lidar=sensor2lidar,
                sensor2lidar_rotation=sensor2lidar[:3, :3].copy(),
                sensor2lidar_translation=sensor2lidar[:3, 3].copy())
    if 'sample_data_token' in cam:
        info['sample_data_token'] = cam['sample_data_token']
    return info


def convert_sparseocc_infos(raw_infos, scene_of_token, data_root='', occ_dir='occ3d',
                            source='SparseOcc infos'):
    """GD-OCC infos from SparseOcc's (see the module doc).

    Keyframes are grouped by scene (``scene_of_token``), ordered by timestamp, and get
    ``scene_name``, ``frame_idx``, ``prev`` / ``next`` (tokens within the scene, '' at its
    ends), ``occ_path`` (``<occ_dir>/<scene>/<token>/labels.npz``), the pose matrices and
    their fields, ``cams`` and ``cam_sweeps`` (SparseOcc's ``sweeps``); the file order of
    keyframes is kept.

    Args:
        raw_infos (list[dict]): SparseOcc's ``infos``.
        scene_of_token (dict): sample token -> scene name.
        data_root (str): the nuScenes root the paths start with (or are relative to).
        occ_dir (str): the Occ3D folder, relative to ``data_root``.
        source (str): named in errors (the pickle's path).

    Raises:
        DataFileError: a keyframe has no Occ3D folder, or ``sweeps`` holds LiDAR sweeps.
    """
    infos = []
    for raw in raw_infos:
        token = raw['token']
        if token not in scene_of_token:
            raise DataFileError(source, f'keyframe {token} has no Occ3D labels under '
                                        f'{os.path.join(data_root, occ_dir)}/<scene>/{token}')
        info = dict(token=token, scene_name=scene_of_token[token], scene_token='',
                    timestamp=int(raw['timestamp']),
                    lidar_path=relative_to_root(raw['lidar_path'], data_root),
                    occ_path=os.path.join(occ_dir, scene_of_token[token], token,
                                          'labels.npz'))
        info.update(_pose_fields('lidar2ego', raw['lidar2ego_translation'],
                                 raw['lidar2ego_rotation']))
        info.update(_pose_fields('ego2global', raw['ego2global_translation'],
                                 raw['ego2global_rotation']))
        lidar2global = info['ego2global'] @ info['lidar2ego']
        info['cams'] = {cam: _sparseocc_camera_info(raw['cams'][cam], lidar2global, data_root,
                                                    f'{source}: keyframe {token} {cam}')
                        for cam in NUSCENES_CAMERAS}
        sweeps = raw.get('sweeps') or []
        if sweeps and not all(isinstance(s, dict) and set(NUSCENES_CAMERAS) <= set(s)
                              for s in sweeps):
            raise DataFileError(source, f'keyframe {token}: sweeps are not six-camera frames '
                                        "(LiDAR sweeps of mmdet3d? run SparseOcc's "
                                        'gen_sweep_info.py, or tools/create_data.py)')
        info['cam_sweeps'] = [
            {cam: _sparseocc_camera_info(frame[cam], lidar2global, data_root,
                                         f'{source}: keyframe {token} sweep {k} {cam}')
             for cam in NUSCENES_CAMERAS} for k, frame in enumerate(sweeps)]
        infos.append(info)
    by_scene = {}
    for info in infos:
        by_scene.setdefault(info['scene_name'], []).append(info)
    for frames in by_scene.values():
        frames.sort(key=lambda info: info['timestamp'])
        for idx, info in enumerate(frames):
            info['frame_idx'] = idx
            info['prev'] = frames[idx - 1]['token'] if idx else ''
            info['next'] = frames[idx + 1]['token'] if idx + 1 < len(frames) else ''
    return infos
