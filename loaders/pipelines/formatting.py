"""Packing a pipeline result into the model's inputs and a ``Det3DDataSample``."""
import numpy as np
import torch
from mmcv.transforms import BaseTransform

from mmdet3d.registry import TRANSFORMS
from mmdet3d.structures import Det3DDataSample

from core.ego_pose import invert_pose


@TRANSFORMS.register_module()
class PackOccInputs(BaseTransform):
    """Packs images, camera geometry and occupancy targets (mmdet3d conventions).

    Returns ``dict(inputs=dict(img=...), data_samples=Det3DDataSample)`` with
    N = num_frames * 6 images, frame-major (the six cameras of the current frame in
    ``cam_names`` order, then each past frame, newest first):

    ``inputs['img']``: uint8 tensor [N, 3, H, W], channels in the loader's ``color_order``
    (``Det3DDataPreprocessor`` normalises and stacks a batch to [B, N, 3, H, W]).

    Metainfo of the data sample (numpy unless stated):

    - ``ego2img`` float32 [N, 4, 4]: augmented current-ego metres -> ``(u d, v d, d, 1)``,
      (u, v) augmented pixels, d depth (m); past frames aligned by ego motion (current
      ego -> global -> that image's ego -> camera -> image);
    - ``lidar2img`` float32 [N, 4, 4]: keyframe LiDAR file points -> augmented pixels;
    - ``cam2ego`` float32 [N, 4, 4]: camera -> augmented current ego;
    - ``cam2img`` float32 [N, 4, 4]: intrinsics of the image on disk; ``img_aug`` float32
      [N, 4, 4]: pixels on disk -> augmented pixels (``ego2img = img_aug @ cam2img @
      inverse(cam2ego)``);
    - ``bev_aug`` float32 [4, 4]: ego -> augmented ego (identity without BEV augmentation);
    - ``img_timestamp`` float32 [N]: seconds relative to the keyframe (past frames < 0);
    - ``ego2global`` float64 [4, 4]: augmented current ego -> global (keyframe pose, with
      ``inverse(bev_aug)``); ``lidar2ego`` float32 [4, 4];
    - ``ray_origins`` float32 [T_o, 3]: RayIoU origins in the augmented ego frame;
    - ``sample_idx`` int, ``sample_token`` str, ``scene_name`` str, ``frame_idx`` int,
      ``timestamp`` float (keyframe, seconds), ``num_frames`` int, ``num_views`` int (6),
      ``cam_names`` list of 6 str, ``img_shape`` (H, W), ``ori_shape`` list of N (H, W),
      ``img_path`` list of N str, ``lidar_path`` str, ``occ_path`` str.

    Data fields (torch tensors, present when the pipeline loaded them):
    ``gt_occ_sem`` uint8 [200, 200, 16] (17 = free), ``mask_camera`` / ``mask_lidar`` uint8
    0/1 [200, 200, 16], ``gt_occ_inst`` int32 [200, 200, 16], ``gt_depth`` float32
    [6, H / s, W / s] (metres, 0 = no LiDAR point).
    """
    DATA_FIELDS = ('gt_occ_sem', 'mask_camera', 'mask_lidar', 'gt_occ_inst', 'gt_depth')
    US_PER_S = 1e6

    def transform(self, results):
        images = np.stack(results['img'])  # [N, H, W, 3]; one size after ImageAug3D
        img = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
        bev_aug = np.asarray(results['bev_aug'], dtype=np.float64)
        metainfo = dict(
            ego2img=results['ego2img'].astype(np.float32),
            lidar2img=results['lidar2img'].astype(np.float32),
            cam2ego=results['cam2ego'].astype(np.float32),
            cam2img=results['cam2img'].astype(np.float32),
            img_aug=results['img_aug'].astype(np.float32),
            bev_aug=bev_aug.astype(np.float32),
            img_timestamp=np.asarray(results['img_timestamp'], dtype=np.float32),
            # invert_pose holds for flips too: bev_aug is orthogonal.
            ego2global=np.asarray(results['ego2global'], np.float64) @ invert_pose(bev_aug),
            lidar2ego=np.asarray(results['lidar2ego'], dtype=np.float32),
            ray_origins=np.asarray(results['ray_origins'], dtype=np.float32).reshape(-1, 3),
            sample_idx=results['sample_idx'], sample_token=results['token'],
            scene_name=results['scene_name'], frame_idx=results['frame_idx'],
            timestamp=results['timestamp'] / self.US_PER_S, num_frames=results['num_frames'],
            num_views=len(results['cam_names']), cam_names=list(results['cam_names']),
            img_shape=tuple(images.shape[1:3]), ori_shape=list(results['ori_shape']),
            img_path=list(results['img_path']), lidar_path=results['lidar_path'],
            occ_path=results['occ_path'])
        sample = Det3DDataSample(metainfo=metainfo)
        for key in self.DATA_FIELDS:
            if key in results:
                setattr(sample, key, torch.from_numpy(np.ascontiguousarray(results[key])))
        return dict(inputs=dict(img=img), data_samples=sample)
