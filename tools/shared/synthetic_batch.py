"""Synthetic samples in the exact form ``PackOccInputs`` emits, for tests and timing.

Six (or ``num_cams``) pinhole cameras 1.5 m above the ego origin look outwards at yaw
0, 60, ... degrees; all frames share the current frame's cameras (a static ego, so the past
frames' ``ego2img`` equal the current ones). Images are random but a function of their frame
id only, so two samples that list the same frame carry the same pixels and ``img_path``
(what the online feature cache keys on).
"""
import math

import numpy as np
import torch

from mmdet3d.structures import Det3DDataSample

from core.occ3d import FREE_LABEL, GRID_SHAPE


def camera_rig(num_cams, width, height):
    """The rig's matrices.

    Args:
        num_cams (int): cameras, evenly spread in yaw.
        width, height (int): image size in pixels.

    Returns:
        tuple of float32 numpy [N, 4, 4]: ``cam2img`` (intrinsics, ~70 degrees horizontal
        field of view), ``cam2ego`` (camera frame OpenCV's: x right, y down, z forward; ego
        x forward, y left, z up) and ``img_aug`` (identity).
    """
    cam2img = np.eye(4, dtype=np.float32)
    focal = width / 2 / math.tan(math.radians(35))
    cam2img[0, 0] = cam2img[1, 1] = focal
    cam2img[0, 2], cam2img[1, 2] = (width - 1) / 2, (height - 1) / 2
    cam2ego = []
    for i in range(num_cams):
        yaw = 2 * math.pi * i / num_cams
        forward = [math.cos(yaw), math.sin(yaw), 0.0]
        right = [math.sin(yaw), -math.cos(yaw), 0.0]
        down = [0.0, 0.0, -1.0]
        pose = np.eye(4, dtype=np.float32)
        pose[:3, :3] = np.array([right, down, forward], dtype=np.float32).T  # columns
        pose[:3, 3] = (0.0, 0.0, 1.5)
        cam2ego.append(pose)
    return (np.repeat(cam2img[None], num_cams, 0), np.stack(cam2ego),
            np.repeat(np.eye(4, dtype=np.float32)[None], num_cams, 0))


def packed_sample(num_frames, num_cams, image_size, frame_ids=None, seed=0):
    """One sample as ``PackOccInputs`` emits it.

    Args:
        num_frames (int): T, frames per sample (current first).
        num_cams (int): N, cameras per frame.
        image_size (tuple of 2 ints): (W, H) of the (augmented) images.
        frame_ids (sequence of T ints, optional): the frames' ids, current first; default
            ``seed, seed - 1, ...``. They fix each frame's pixels and ``img_path``.
        seed (int): seed of the targets (occupancy boxes are fixed, depth targets random).

    Returns:
        dict: ``inputs=dict(img=uint8 [T*N, 3, H, W])`` and ``data_samples`` (a
        ``Det3DDataSample`` with the metainfo ``ego2img``, ``cam2img``, ``cam2ego``,
        ``img_aug`` [T*N, 4, 4], ``img_shape``, ``img_path``, ``num_views``,
        ``sample_token``, ``ray_origins`` and the fields ``gt_occ_sem``, ``mask_camera``,
        ``mask_lidar``, ``gt_depth`` [N, H/16, W/16]); wrap in lists for a batch.
    """
    width, height = image_size
    frame_ids = list(range(seed, seed - num_frames, -1)) if frame_ids is None else frame_ids
    if len(frame_ids) != num_frames:
        raise ValueError(f'packed_sample: {len(frame_ids)} frame ids for {num_frames} frames')
    cam2img, cam2ego, img_aug = camera_rig(num_cams, width, height)
    ego2img = img_aug @ cam2img @ np.linalg.inv(cam2ego)
    tile = lambda m: np.tile(m, (num_frames, 1, 1)).astype(np.float32)  # noqa: E731

    gt = np.full(GRID_SHAPE, FREE_LABEL, dtype=np.uint8)
    gt[:, :, 2] = 11                                   # driveable surface at z ~ -0.2 m
    for label, (x, y) in zip((4, 10, 7, 1), ((120, 100), (80, 130), (100, 60), (140, 140))):
        gt[x:x + 8, y:y + 5, 3:7] = label              # a few boxes on the road
    rng = np.random.default_rng(seed)
    gt_depth = np.zeros((num_cams, height // 16, width // 16), dtype=np.float32)
    gt_depth[:, -2:, ::3] = rng.uniform(3.0, 30.0, size=gt_depth[:, -2:, ::3].shape)

    images = [np.random.default_rng(abs(int(f)) * 2 + (f < 0)).integers(
        0, 256, (num_cams, 3, height, width), dtype=np.uint8) for f in frame_ids]
    paths = [f'synthetic/frame{f}/cam{c}.jpg' for f in frame_ids for c in range(num_cams)]
    sample = Det3DDataSample(metainfo=dict(
        ego2img=tile(ego2img), cam2img=tile(cam2img), cam2ego=tile(cam2ego),
        img_aug=tile(img_aug), img_shape=(height, width), num_views=num_cams,
        img_path=paths, sample_token=f'synthetic{frame_ids[0]}',
        ray_origins=np.zeros((1, 3), dtype=np.float32)))
    sample.gt_occ_sem = torch.from_numpy(gt)
    sample.mask_camera = torch.ones(GRID_SHAPE, dtype=torch.uint8)
    sample.mask_lidar = torch.ones(GRID_SHAPE, dtype=torch.uint8)
    sample.gt_depth = torch.from_numpy(gt_depth)
    return dict(inputs=dict(img=torch.from_numpy(np.concatenate(images))),
                data_samples=sample)
