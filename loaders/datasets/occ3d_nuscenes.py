"""Occ3D-nuScenes dataset: keyframes of the info pickles written by ``tools/create_data.py``
or by SparseOcc (mmdet3d v1.0 + ``gen_sweep_info.py``)."""
import os

from mmengine.dataset import BaseDataset

from mmdet3d.registry import DATASETS

from core.ego_pose import MAX_RAY_ORIGINS, RAY_ORIGIN_RANGE, ray_origins_of_infos
from core.errors import missing_file
from core.infos import load_info_file
from core.occ3d import OCC3D_CLASS_NAMES, OCC3D_GRID, OCC3D_THING_CLASSES, OccGrid, free_label_of


def pipeline_steps(pipeline):
    """The transforms of a pipeline given as a list, or as a dict of named steps (in order;
    steps set to None are left out).

    Returns:
        list: the transforms (config dicts or callables), in order.
    """
    if isinstance(pipeline, dict):
        return [step for step in pipeline.values() if step is not None]
    return list(pipeline)


@DATASETS.register_module()
class Occ3DNuScenesDataset(BaseDataset):
    """Occ3D-nuScenes keyframes with their past camera frames and RayIoU ray origins.

    The info file (``ann_file``, relative to ``data_root`` unless absolute) is the pickle
    ``dict(metainfo=..., data_list=[info, ...])`` of ``tools/create_data.py`` or SparseOcc's
    ``dict(infos=[...], metadata=...)`` (layout detected and converted in memory, scene
    names from the Occ3D folder ``occ_dir``; see ``core.infos``). It is read on first use
    (``lazy_init=True`` by default), so configs build without the data; a missing data root
    or info file then raises ``FileNotFoundError`` naming the path, any other layout one
    ``DataFileError`` naming the two it understands.

    Each item handed to the pipeline is the keyframe's info (see
    ``core.infos.keyframe_info``) with every path made absolute, plus:

    - ``ray_origins``: float32 [T_o, 3], T_o <= ``max_ray_origins``: LiDAR positions of the
      keyframes of the same scene within ``|x|, |y| < ray_origin_range`` metres of this
      keyframe's ego, in this keyframe's ego frame (the RayIoU protocol of SparseOcc);
    - ``past_cam_frames``: list (newest first) of up to ``max_past_frames`` past six-camera
      frames, each a dict camera name -> camera info: this keyframe's sweeps, then the
      previous keyframe's cameras, then its sweeps, and so on back through the scene;
    - ``past_cam_frames_reach_scene_start``: bool, True when the list stops because the
      scene has no earlier frame (not because ``max_past_frames`` was reached);
    - ``sample_idx``: int, the index in this dataset.

    Args:
        ann_file (str): info pickle.
        data_root (str): nuScenes root the info paths are relative to.
        pipeline (list[dict] | dict): transforms: a list, or a dict of named steps in order
            (configs change one step by its name through mmengine's merge; a step set to
            None is left out).
        test_mode (bool): mmengine's flag (no re-fetching of failed samples).
        occ_dir (str): the Occ3D label folder under ``data_root``; SparseOcc infos take
            their scene names and label paths from it (GD-OCC infos name their ``occ_path``).
        max_past_frames (int): past camera frames to collect per sample; the image loader
            picks its ``num_frames - 1`` past frames among them, so this must be at least
            ``(num_frames - 1) * interval`` (largest interval).
        ray_origin_range (float), max_ray_origins (int): the RayIoU origin rule.
        lazy_init (bool): defer reading the info file to the first access.
        metainfo (dict, optional): overrides ``METAINFO``: ``classes`` (the label names,
            free last), ``thing_classes`` (those forming instances) and ``occ_grid`` (dict of
            ``grid_min``, ``voxel_size``, ``grid_shape``); Occ3D's by default. The evaluator
            reads them from here (mmengine hands the dataset's metainfo to it).
        serialize_data (bool): mmengine's compact, worker-shareable storage of the infos.

    mmengine's ``indices`` (subsets) is not offered: past camera frames are looked up
    among all keyframes of a scene, and a subset would silently shorten them.
    """
    METAINFO = dict(classes=OCC3D_CLASS_NAMES, thing_classes=OCC3D_THING_CLASSES,
                    occ_grid=OCC3D_GRID.as_dict())

    def __init__(self, ann_file, data_root='', pipeline=(), test_mode=False, max_past_frames=0,
                 ray_origin_range=RAY_ORIGIN_RANGE, max_ray_origins=MAX_RAY_ORIGINS,
                 lazy_init=True, metainfo=None, serialize_data=True, max_refetch=1000,
                 occ_dir='occ3d'):
        if max_past_frames < 0:
            raise ValueError(f'max_past_frames must be >= 0, got {max_past_frames}')
        self.max_past_frames = int(max_past_frames)
        self.ray_origin_range = float(ray_origin_range)
        self.max_ray_origins = int(max_ray_origins)
        self.occ_dir = occ_dir
        self._index_by_token = {}
        super().__init__(ann_file=ann_file, metainfo=metainfo, data_root=data_root,
                         data_prefix={}, serialize_data=serialize_data,
                         pipeline=pipeline_steps(pipeline), test_mode=test_mode,
                         lazy_init=lazy_init, max_refetch=max_refetch)
        free_label_of(self._metainfo['classes'])
        OccGrid.of(self._metainfo['occ_grid'])
        unknown = set(self._metainfo['thing_classes']) - set(self._metainfo['classes'])
        if unknown:
            raise ValueError(f'{type(self).__name__}: thing_classes {sorted(unknown)} are not '
                             f'in classes')

    def load_data_list(self):
        """Reads the info pickle (either layout), attaches ray origins and makes paths
        absolute.

        Returns:
            list[dict]: one info per keyframe, in file order.
        """
        if self.data_root and not os.path.isdir(self.data_root):
            raise missing_file(self.data_root, 'data root')
        metainfo, raw_infos = load_info_file(self.ann_file, self.data_root, self.occ_dir)
        for key, value in metainfo.items():
            self._metainfo.setdefault(key, value)
        origins = ray_origins_of_infos(raw_infos, self.ray_origin_range, self.max_ray_origins)
        data_list = []
        for raw in raw_infos:
            info = self.parse_data_info(raw)
            info['ray_origins'] = origins[info['token']]
            data_list.append(info)
        self._index_by_token = {info['token']: i for i, info in enumerate(data_list)}
        return data_list

    def parse_data_info(self, raw_data_info):
        """Joins ``data_root`` to the lidar, occupancy and image paths of one info."""
        info = dict(raw_data_info)
        info['lidar_path'] = self._abs(info['lidar_path'])
        info['occ_path'] = self._abs(info['occ_path'])
        info['cams'] = self._abs_frame(info['cams'])
        info['cam_sweeps'] = [self._abs_frame(frame) for frame in info['cam_sweeps']]
        return info

    def _abs(self, path):
        return os.path.join(self.data_root, path) if self.data_root else path

    def _abs_frame(self, frame):
        return {cam: dict(cam_info, data_path=self._abs(cam_info['data_path']))
                for cam, cam_info in frame.items()}

    def __len__(self):
        # Lazy by design (configs build without data): read the infos on first use,
        # without mmengine's "not fully initialised" warning.
        self.full_init()
        return super().__len__()

    def get_data_info(self, idx):
        """The info of keyframe ``idx`` with ``past_cam_frames`` (see the class doc)."""
        self.full_init()
        info = super().get_data_info(idx)
        past = []
        current, frames = info, info['cam_sweeps']
        reached_start = True
        while reached_start:
            for frame in frames:
                if len(past) == self.max_past_frames:
                    reached_start = False  # an earlier frame exists but is not needed
                    break
                past.append(frame)
            else:
                if current['prev'] not in self._index_by_token:  # '' at the scene start
                    break
                current = super().get_data_info(self._index_by_token[current['prev']])
                frames = [current['cams']] + current['cam_sweeps']
        info['past_cam_frames'] = past
        info['past_cam_frames_reach_scene_start'] = reached_start
        return info
