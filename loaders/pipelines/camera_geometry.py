"""Projection matrices of the multi-view samples and how augmentations compose into them.

Every image ``n`` of a sample (``N = T * 6`` images, frame-major) carries, as float64
[N, 4, 4] arrays in the pipeline's ``results``:

- ``ego2cam``: the *current keyframe's* ego frame (the occupancy grid's frame, before BEV
  augmentation) -> image n's camera frame, through the global frame and the ego pose at
  that image's timestamp (so past frames are aligned by ego motion);
- ``cam2img``: the camera intrinsics ``K`` padded to [4, 4] (``[[K, 0], [0, 1]]``),
  pixels of the image as stored on disk, pixel centres at integer coordinates;
- ``img_aug``: the image augmentation, pixels on disk -> augmented pixels: the 3x3
  affine map of homogeneous pixels padded to ``[[a, b, c, 0], [d, e, f, 0], [0, 0, 1, 0],
  [0, 0, 0, 1]]``, so that it maps ``(u d, v d, d, 1)`` to ``(u' d, v' d, d, 1)`` (the
  shift is scaled by the depth row; depth is unchanged);

and one float64 [4, 4] ``bev_aug``: ego frame -> augmented ego frame (flips / rotation
about z). From these, :func:`refresh_projections` derives

- ``ego2img = img_aug @ cam2img @ ego2cam @ inverse(bev_aug)``: augmented-ego metres ->
  ``(u * d, v * d, d, 1)`` with (u, v) augmented pixels and d the depth along the optical
  axis in metres;
- ``cam2ego = bev_aug @ inverse(ego2cam)``: camera -> augmented ego;
- ``lidar2img = img_aug @ cam2img @ ego2cam @ lidar2ego``: points of the keyframe's LiDAR
  file (sensor frame, as stored) -> augmented pixels.

Augmentations only ever change ``img_aug`` / ``bev_aug`` and call
:func:`refresh_projections`, so the derived matrices cannot drift apart.
"""
import numpy as np

from core.ego_pose import invert_pose


def pad_intrinsics(intrinsics):
    """float [3, 3] camera matrix -> float64 [4, 4] ``[[K, 0], [0, 1]]``."""
    matrix = np.eye(4)
    matrix[:3, :3] = intrinsics
    return matrix


def image_affine_to_4x4(affine):
    """float [3, 3] pixel affine (last row 0, 0, 1) -> float64 [4, 4] ``[[A, 0], [0, 1]]``
    acting on ``(u * d, v * d, d, 1)``: the pixel shift must scale with the depth
    component, so it sits in column 2, not in the homogeneous column."""
    matrix = np.eye(4)
    matrix[:3, :3] = affine
    return matrix


def ego2cam_of(cam_info, ego2global_ref):
    """Current (reference) ego frame -> this image's camera frame.

    Args:
        cam_info (dict): a camera info of the infos: ``sensor2ego`` and ``ego2global``
            [4, 4] (the camera mounting and the ego pose at the image's timestamp), or
            ``sensor2global`` [4, 4] (their product, all that SparseOcc's infos store; used
            when present).
        ego2global_ref: float [4, 4], the ego pose of the current keyframe (its LiDAR's).

    Returns:
        np.ndarray: float64 [4, 4], ``inv(sensor2ego) @ inv(ego2global_cam) @ ego2global_ref``
        (``inv(sensor2global) @ ego2global_ref``).
    """
    ref = np.asarray(ego2global_ref, dtype=np.float64)
    if 'sensor2global' in cam_info:
        return invert_pose(cam_info['sensor2global']) @ ref
    return invert_pose(cam_info['sensor2ego']) @ invert_pose(cam_info['ego2global']) @ ref


def refresh_projections(results):
    """Recomputes ``ego2img``, ``cam2ego`` and ``lidar2img`` (float64 [N, 4, 4]) of
    ``results`` from ``ego2cam``, ``cam2img``, ``img_aug``, ``bev_aug`` and ``lidar2ego``
    (see the module doc). Returns ``results``."""
    cam_to_aug_img = results['img_aug'] @ results['cam2img']
    results['ego2img'] = cam_to_aug_img @ results['ego2cam'] @ invert_pose(results['bev_aug'])
    results['cam2ego'] = results['bev_aug'] @ np.stack([invert_pose(m)
                                                        for m in results['ego2cam']])
    results['lidar2img'] = cam_to_aug_img @ results['ego2cam'] @ results['lidar2ego']
    return results
