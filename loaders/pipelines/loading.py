"""Loading transforms: multi-view multi-frame images, Occ3D occupancy labels and LiDAR
depth targets. Frames and matrix conventions: see ``camera_geometry``."""
import math

import numpy as np
from mmcv.transforms import BaseTransform

from mmdet3d.registry import TRANSFORMS

from core.errors import DataFileError, missing_file
from core.geometry import project_to_image
from core.grid_io import load_npz_grids
from core.occ3d import FREE_LABEL, GRID_SHAPE, NUSCENES_CAMERAS

from .camera_geometry import ego2cam_of, pad_intrinsics, refresh_projections
from .jpeg import JpegDecoder

US_PER_S = 1e6  # nuScenes timestamps are microseconds


@TRANSFORMS.register_module()
class LoadMultiViewImages(BaseTransform):
    """Loads the six camera images of the current keyframe and of ``num_frames - 1`` past
    frames.

    Past frame k (k = 1 .. num_frames - 1) is entry ``k * interval - 1`` of the sample's
    ``past_cam_frames`` (newest first: this keyframe's camera sweeps, then the previous
    keyframe, its sweeps, ...). Near the start of a scene the earliest available frame
    repeats (the current frame when there is none), as in SparseOcc.

    Required keys: ``cams`` (camera name -> camera info), ``past_cam_frames``,
    ``past_cam_frames_reach_scene_start``, ``timestamp`` (int us), ``ego2global`` and
    ``lidar2ego`` (float [4, 4]) -- as provided by ``Occ3DNuScenesDataset``.

    Added keys (N = num_frames * 6, frame-major: the six cameras of the current frame in
    ``cam_names`` order, then those of each past frame, newest first):

    - ``img``: list of N uint8 [H, W, 3] arrays, channels in ``color_order``;
    - ``img_path``: list of N str; ``ori_shape`` / ``img_shape``: list of N (H, W);
    - ``img_timestamp``: float64 [N], seconds relative to the keyframe (<= ~0 for past);
    - ``ego2cam``, ``cam2img``: float64 [N, 4, 4]; ``img_aug``: identities [N, 4, 4];
      ``bev_aug``: identity [4, 4] unless already set; and the derived ``ego2img``,
      ``cam2ego``, ``lidar2img`` (see ``camera_geometry``);
    - ``num_frames`` (int), ``cam_names`` (list of 6 str).

    Args:
        num_frames (int): frames per sample, the current one included.
        interval (int | sequence of 2 int): camera frames between picked past frames; a
            ``[lo, hi]`` range draws one interval per sample (training augmentation).
        color_order (str): ``'rgb'`` or ``'bgr'``.
        decode_backend (str): ``'auto'``, ``'turbojpeg'`` or ``'cv2'`` (see ``JpegDecoder``).
        cam_names (sequence of str): camera order within a frame.
    """

    def __init__(self, num_frames=1, interval=1, color_order='rgb', decode_backend='auto',
                 cam_names=NUSCENES_CAMERAS):
        if num_frames < 1:
            raise ValueError(f'num_frames must be >= 1, got {num_frames}')
        lo, hi = (interval, interval) if np.isscalar(interval) else tuple(interval)
        if not 1 <= lo <= hi:
            raise ValueError(f'interval must be >= 1 (or a range [lo, hi] with 1 <= lo <= hi), '
                             f'got {interval}')
        self.num_frames = int(num_frames)
        self.interval_range = (int(lo), int(hi))
        self.cam_names = tuple(cam_names)
        self.decoder = JpegDecoder(decode_backend, color_order)

    def pick_frames(self, results):
        """The camera frames of the sample, current first.

        Returns:
            list of dict: ``num_frames`` entries, camera name -> camera info.
        """
        past = results['past_cam_frames']
        interval = int(np.random.randint(self.interval_range[0], self.interval_range[1] + 1))
        frames = [results['cams']]
        for k in range(1, self.num_frames):
            want = k * interval - 1
            if want < len(past):
                frames.append(past[want])
            elif results['past_cam_frames_reach_scene_start']:
                frames.append(past[-1] if past else results['cams'])
            else:
                raise ValueError(
                    f'sample {results.get("token")}: past frame {want + 1} is needed '
                    f'(num_frames={self.num_frames}, interval={interval}) but the dataset '
                    f'collected only {len(past)}: raise the dataset\'s max_past_frames to at '
                    f'least {(self.num_frames - 1) * self.interval_range[1]}')
        return frames

    def transform(self, results):
        images, paths, stamps, ego2cam, cam2img = [], [], [], [], []
        for frame in self.pick_frames(results):
            for cam in self.cam_names:
                cam_info = frame[cam]
                images.append(self.decoder.read(cam_info['data_path']))
                paths.append(cam_info['data_path'])
                stamps.append((cam_info['timestamp'] - results['timestamp']) / US_PER_S)
                ego2cam.append(ego2cam_of(cam_info, results['ego2global']))
                cam2img.append(pad_intrinsics(cam_info['cam_intrinsic']))
        results.update(
            img=images, img_path=paths, img_timestamp=np.asarray(stamps, dtype=np.float64),
            ori_shape=[img.shape[:2] for img in images],
            img_shape=[img.shape[:2] for img in images],
            ego2cam=np.stack(ego2cam), cam2img=np.stack(cam2img),
            img_aug=np.tile(np.eye(4), (len(images), 1, 1)),
            num_frames=self.num_frames, cam_names=list(self.cam_names))
        results.setdefault('bev_aug', np.eye(4))
        results['lidar2ego'] = np.asarray(results['lidar2ego'], dtype=np.float64)
        return refresh_projections(results)

    def __repr__(self):
        return (f'{type(self).__name__}(num_frames={self.num_frames}, '
                f'interval={self.interval_range}, color_order={self.decoder.color_order!r}, '
                f'decode_backend={self.decoder.backend!r})')


@TRANSFORMS.register_module()
class LoadOccupancy(BaseTransform):
    """Loads the occupancy labels of the keyframe from ``occ_path`` (``labels.npz``).

    Added keys, all [X, Y, Z] (``grid_shape``, Occ3D's [200, 200, 16] by default) indexed
    [x, y, z] in the keyframe's ego frame: ``gt_occ_sem`` uint8 (``num_classes - 1`` =
    free), ``mask_lidar`` and ``mask_camera`` uint8 0/1, and with ``with_instances``
    ``gt_occ_inst`` int32 (0 = no instance).

    Args:
        with_instances (bool): also load ``instances`` (panoptic configs).
        num_classes (int): labels (after ``label_map``) lie in [0, num_classes).
        grid_shape (sequence of 3 ints): (X, Y, Z) of the stored grids.
        label_map (sequence of int, optional): the label each stored label becomes (index =
            stored label), for a config whose class list merges the stored one's classes;
            None keeps the stored labels.
    """
    def __init__(self, with_instances=False, num_classes=FREE_LABEL + 1, grid_shape=GRID_SHAPE,
                 label_map=None):
        self.with_instances = with_instances
        self.num_classes = int(num_classes)
        self.grid_shape = tuple(int(v) for v in grid_shape)
        self.label_map = None
        if label_map is not None:
            self.label_map = np.asarray(label_map, dtype=np.int64)
            if self.label_map.ndim != 1 or self.label_map.min() < 0 or \
                    self.label_map.max() >= self.num_classes:
                raise ValueError(f'LoadOccupancy: label_map must be a list of labels in '
                                 f'[0, {self.num_classes}), got {list(label_map)}')

    def transform(self, results):
        path = results['occ_path']
        keys = ['semantics', 'mask_lidar', 'mask_camera'] + (
            ['instances'] if self.with_instances else [])
        arrays = load_npz_grids(path, keys, 'occupancy labels', self.grid_shape)
        semantics = arrays['semantics']
        if self.label_map is not None:
            if semantics.max() >= len(self.label_map):
                raise DataFileError(path, f'semantics holds label {semantics.max()}, beyond '
                                          f'the {len(self.label_map)} labels of label_map')
            semantics = self.label_map[semantics]
        if semantics.max() >= self.num_classes:
            raise DataFileError(path, f'semantics holds label {semantics.max()} '
                                      f'>= {self.num_classes} classes')
        results['gt_occ_sem'] = semantics.astype(np.uint8)
        results['mask_lidar'] = arrays['mask_lidar'].astype(np.uint8)
        results['mask_camera'] = arrays['mask_camera'].astype(np.uint8)
        if self.with_instances:
            results['gt_occ_inst'] = arrays['instances'].astype(np.int32)
        return results


@TRANSFORMS.register_module()
class LiDARDepthTarget(BaseTransform):
    """Depth targets of the current frame's six (augmented) images from the keyframe's
    LiDAR points (the supervision of the DepthNet).

    The points of ``lidar_path`` (float32 [P, ``load_dim``], x, y, z first, LiDAR frame)
    are projected with ``lidar2img`` into the first ``num_views`` images; each image is
    divided into ``stride`` x ``stride`` pixel cells and a cell keeps the smallest depth
    (metres along the optical axis) of the points falling in it; points outside
    ``depth_range`` or the image are dropped. Run it after the image augmentations so the
    targets follow the augmented pixels.

    Added key: ``gt_depth`` float32 [num_views, ceil(H / stride), ceil(W / stride)],
    0 where no point falls.

    Args:
        stride (int): cell size in pixels (the DepthNet's feature stride).
        depth_range (sequence of 2 float): kept depths [min, max), metres.
        load_dim (int): floats per point in the file (nuScenes: 5).
        num_views (int): images of the current frame (the first ones of ``img``).
    """

    def __init__(self, stride=16, depth_range=(1.0, 45.0), load_dim=5,
                 num_views=len(NUSCENES_CAMERAS)):
        if stride < 1:
            raise ValueError(f'stride must be >= 1, got {stride}')
        self.stride = int(stride)
        self.depth_range = tuple(float(d) for d in depth_range)
        if not 0 < self.depth_range[0] < self.depth_range[1]:
            raise ValueError(f'depth_range must be (min, max) with 0 < min < max metres, got '
                             f'{depth_range}')
        self.load_dim = int(load_dim)
        self.num_views = int(num_views)

    def load_points(self, path):
        """float32 [P, 3] LiDAR-frame xyz of ``path``."""
        try:
            raw = np.fromfile(path, dtype=np.float32)
        except FileNotFoundError:
            raise missing_file(path, 'LiDAR points') from None
        if raw.size % self.load_dim:
            raise DataFileError(path, f'{raw.size} floats is not a multiple of '
                                      f'load_dim={self.load_dim}')
        return raw.reshape(-1, self.load_dim)[:, :3]

    def depth_map(self, lidar2img, points, height, width):
        """Nearest depth per cell of one image.

        Args:
            lidar2img: float [4, 4] (see ``camera_geometry``).
            points: float [P, 3], LiDAR frame.
            height, width (int): the augmented image size, pixels.

        Returns:
            np.ndarray: float32 [ceil(height / stride), ceil(width / stride)].
        """
        pixels, depth = project_to_image(lidar2img, points, self.depth_range[0])
        # Pixel centres are integers, so pixel (u, v) covers [u - 0.5, u + 0.5).
        col = np.floor((pixels[:, 0] + 0.5) / self.stride)
        row = np.floor((pixels[:, 1] + 0.5) / self.stride)
        rows, cols = math.ceil(height / self.stride), math.ceil(width / self.stride)
        keep = ((depth >= self.depth_range[0]) & (depth < self.depth_range[1])
                & (pixels[:, 0] >= -0.5) & (pixels[:, 0] < width - 0.5)
                & (pixels[:, 1] >= -0.5) & (pixels[:, 1] < height - 0.5))
        cell = row[keep].astype(np.int64) * cols + col[keep].astype(np.int64)
        nearest = np.full(rows * cols, np.inf)
        np.minimum.at(nearest, cell, depth[keep])
        nearest[np.isinf(nearest)] = 0.0
        return nearest.reshape(rows, cols).astype(np.float32)

    def transform(self, results):
        points = self.load_points(results['lidar_path'])
        maps = [self.depth_map(results['lidar2img'][v], points, *results['img_shape'][v])
                for v in range(self.num_views)]
        results['gt_depth'] = np.stack(maps)
        return results
