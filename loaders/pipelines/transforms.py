"""Geometric augmentations that keep images, occupancy labels and camera matrices
consistent: image-view augmentation (resize / crop / flip / rotation) and BEV augmentation
(flips and rotation of the ego frame about z). Matrix conventions: ``camera_geometry``."""
import math

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from mmdet3d.registry import TRANSFORMS

from core.geometry import voxel_centres, voxel_of
from core.occ3d import OccGrid

from .camera_geometry import image_affine_to_4x4, refresh_projections


def resize_affine(scale_x, scale_y):
    """float64 [3, 3] pixel map of a resize by (scale_x, scale_y) with integer pixel
    centres (OpenCV's ``resize`` convention: u' = s (u + 0.5) - 0.5)."""
    return np.array([[scale_x, 0.0, 0.5 * scale_x - 0.5],
                     [0.0, scale_y, 0.5 * scale_y - 0.5],
                     [0.0, 0.0, 1.0]])


def crop_flip_rotate_affine(crop_x, crop_y, flip, angle_deg, width, height):
    """float64 [3, 3] pixel map: shift by (-crop_x, -crop_y), mirror left-right inside a
    ``width`` x ``height`` image when ``flip``, then rotate by ``angle_deg`` (positive =
    counter-clockwise as displayed) about the image centre."""
    crop = np.array([[1.0, 0.0, -crop_x], [0.0, 1.0, -crop_y], [0.0, 0.0, 1.0]])
    mirror = np.array([[-1.0, 0.0, width - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]) \
        if flip else np.eye(3)
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    cos, sin = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    # v points down, so a counter-clockwise turn on screen is [[cos, sin], [-sin, cos]].
    rotate = np.array([[cos, sin, (1 - cos) * cx - sin * cy],
                       [-sin, cos, sin * cx + (1 - cos) * cy],
                       [0.0, 0.0, 1.0]])
    return rotate @ mirror @ crop


@TRANSFORMS.register_module()
class ImageAug3D(BaseTransform):
    """Resizes, crops, flips and rotates every image to ``final_size`` and records the
    pixel map in ``img_aug`` (then refreshes ``ego2img``/``lidar2img``/``cam2ego``).

    One set of random parameters is drawn per sample and applied to all its images (as
    in SparseOcc), so the same camera is warped identically in every frame. For an image
    of size W x H, let ``fit = max(final_h / H, final_w / W)`` (the smallest scale that
    covers the output). Training draws ``scale = fit * U(resize_range)``, a bottom crop
    fraction ``b ~ U(bottom_crop_range)`` (crop top ``= int((1 - b) * H * scale) - final_h``),
    a left crop uniform in ``[0, W * scale - final_w]``, a mirror with probability
    ``flip_prob`` and a rotation ``~ U(rotation_range)`` degrees. ``test_mode`` uses
    ``scale = fit``, the mean bottom fraction, a centred horizontal crop, no flip or
    rotation. Pixels outside the source become 0.

    The resize uses ``cv2.resize`` (area averaging when shrinking) and the rest one
    ``cv2.warpAffine``; ``img_aug`` is the exact composition of the two maps, so a 3D point
    projected with the new ``ego2img`` lands on the same content as before.

    Required keys: ``img`` (list of N [H, W, 3]), ``img_aug`` [N, 4, 4] and the keys of
    ``camera_geometry.refresh_projections``. Updated: ``img`` (N [final_h, final_w, 3]),
    ``img_shape``, ``img_aug``, ``ego2img``, ``cam2ego``, ``lidar2img``; added
    ``img_aug_params`` (dict of the drawn parameters).

    Args:
        final_size (sequence of 2 int): output (width, height).
        resize_range (sequence of 2 float): scale range relative to ``fit``.
        bottom_crop_range (sequence of 2 float): fraction of the resized height cut at
            the bottom.
        flip_prob (float): probability of a left-right mirror.
        rotation_range (sequence of 2 float): degrees.
        test_mode (bool): deterministic parameters (see above).
    """

    def __init__(self, final_size, resize_range=(1.0, 1.0), bottom_crop_range=(0.0, 0.0),
                 flip_prob=0.0, rotation_range=(0.0, 0.0), test_mode=False):
        self.final_w, self.final_h = (int(v) for v in final_size)
        self.resize_range = tuple(float(v) for v in resize_range)
        self.bottom_crop_range = tuple(float(v) for v in bottom_crop_range)
        self.flip_prob = float(flip_prob)
        self.rotation_range = tuple(float(v) for v in rotation_range)
        self.test_mode = test_mode

    def sample_params(self):
        """The random draws of one sample (image-size independent parts)."""
        if self.test_mode:
            return dict(resize=1.0, bottom_crop=float(np.mean(self.bottom_crop_range)),
                        crop_x_frac=0.5, flip=False, rotation=0.0)
        return dict(resize=float(np.random.uniform(*self.resize_range)),
                    bottom_crop=float(np.random.uniform(*self.bottom_crop_range)),
                    crop_x_frac=float(np.random.uniform()),
                    flip=bool(np.random.uniform() < self.flip_prob),
                    rotation=float(np.random.uniform(*self.rotation_range)))

    def plan(self, height, width, params):
        """The resized size and the two pixel maps for one W x H image.

        Returns:
            tuple: ((new_w, new_h), resize map [3, 3], crop/flip/rotate map [3, 3]).
        """
        fit = max(self.final_h / height, self.final_w / width)
        scale = fit * params['resize']
        new_w, new_h = max(1, int(round(width * scale))), max(1, int(round(height * scale)))
        crop_y = int((1 - params['bottom_crop']) * new_h) - self.final_h
        crop_x = int(round(params['crop_x_frac'] * max(0, new_w - self.final_w)))
        resize = resize_affine(new_w / width, new_h / height)
        rest = crop_flip_rotate_affine(crop_x, crop_y, params['flip'], params['rotation'],
                                       self.final_w, self.final_h)
        return (new_w, new_h), resize, rest

    def transform(self, results):
        params = self.sample_params()
        images, maps = [], []
        for image in results['img']:
            (new_w, new_h), resize, rest = self.plan(*image.shape[:2], params)
            shrink = new_w < image.shape[1]
            resized = cv2.resize(image, (new_w, new_h),
                                 interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
            images.append(cv2.warpAffine(resized, rest[:2], (self.final_w, self.final_h),
                                         flags=cv2.INTER_LINEAR,
                                         borderMode=cv2.BORDER_CONSTANT, borderValue=0))
            maps.append(image_affine_to_4x4(rest @ resize))
        results['img'] = images
        results['img_shape'] = [img.shape[:2] for img in images]
        results['img_aug'] = np.stack(maps) @ results['img_aug']
        results['img_aug_params'] = params
        return refresh_projections(results)


def bev_matrix(flip_x, flip_y, rotation_deg):
    """float64 [4, 4] ego -> augmented ego: negate x and/or y, then rotate about z by
    ``rotation_deg`` (counter-clockwise seen from above)."""
    cos, sin = math.cos(math.radians(rotation_deg)), math.sin(math.radians(rotation_deg))
    rotate = np.array([[cos, -sin, 0, 0], [sin, cos, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1.0]])
    return rotate @ np.diag([-1.0 if flip_x else 1.0, -1.0 if flip_y else 1.0, 1.0, 1.0])


def warp_grid_bev(grid, bev_aug, fill, occ_grid=None):
    """Resamples an occupancy grid under a BEV transform (nearest voxel).

    Args:
        grid: array [X, Y, Z] indexed [x, y, z] in the ego frame.
        bev_aug: float [4, 4] ego -> augmented ego (only its 2D part is used).
        fill: value for voxels whose source lies outside the grid.
        occ_grid (OccGrid or dict, optional): the voxel grid of ``grid``; Occ3D's when None.

    Returns:
        np.ndarray: same dtype/shape; voxel (i, j, k) of the result holds the source voxel
        containing ``inverse(bev_aug)`` applied to the centre of (i, j). Flips and 90 degree
        rotations are exact permutations (the grid is centred on the ego).
    """
    occ_grid = OccGrid.of(occ_grid)
    grid_min, voxel_size = occ_grid.grid_min[:2], occ_grid.voxel_size
    nx, ny = grid.shape[:2]
    index = np.stack(np.meshgrid(np.arange(nx), np.arange(ny), indexing='ij'), -1)
    xx, yy = np.moveaxis(voxel_centres(index, grid_min, voxel_size), -1, 0)
    inverse = np.linalg.inv(np.asarray(bev_aug, np.float64)[:2, :2])
    src_x = inverse[0, 0] * xx + inverse[0, 1] * yy
    src_y = inverse[1, 0] * xx + inverse[1, 1] * yy
    # Source coordinates land on voxel centres (+- rounding) for exact cases, so floor
    # picks the right voxel; round-off cannot cross a voxel boundary.
    i, j = np.moveaxis(voxel_of(np.stack([src_x, src_y], -1), grid_min, voxel_size)
                       .astype(np.int64), -1, 0)
    inside = (i >= 0) & (i < nx) & (j >= 0) & (j < ny)
    out = np.full_like(grid, fill)
    out[inside] = grid[i[inside], j[inside]]
    return out


@TRANSFORMS.register_module()
class BEVAug(BaseTransform):
    """Random flips of x / y and rotation about z of the ego frame, applied together to
    the occupancy labels, their masks and instances, the ray origins and (through
    ``bev_aug``) every camera's ``ego2img = img_aug @ K @ ego2cam @ inverse(bev_aug)``.

    Optional keys transformed: ``gt_occ_sem`` (outside voxels -> ``unknown_label``),
    ``mask_lidar``,
    ``mask_camera``, ``gt_occ_inst`` (-> 0), ``ray_origins`` float [T, 3]. Updated:
    ``bev_aug`` (composed on the left of the current one) and the derived projections
    when images are loaded; added ``bev_aug_params``.

    Args:
        flip_x_prob (float): probability of x -> -x.
        flip_y_prob (float): probability of y -> -y.
        rotation_range (sequence of 2 float): degrees about z; angles that are not
            multiples of 90 resample the labels (nearest voxel) and lose the corners.
        unknown_label (int): label of the voxels a rotation brings in from outside the grid:
            255 (SparseOcc's; the losses leave them out) or, e.g., 17 to call them free.
        occ_grid (dict, optional): the labels' voxel grid (``grid_min``, ``voxel_size``,
            ``grid_shape``; the dataset config's ``occ_grid``); Occ3D's when None.
    """

    def __init__(self, flip_x_prob=0.0, flip_y_prob=0.0, rotation_range=(0.0, 0.0),
                 unknown_label=255, occ_grid=None):
        self.occ_grid = OccGrid.of(occ_grid)
        self.grid_fill = dict(gt_occ_sem=int(unknown_label), mask_lidar=0, mask_camera=0,
                              gt_occ_inst=0)
        self.flip_x_prob = float(flip_x_prob)
        self.flip_y_prob = float(flip_y_prob)
        self.rotation_range = tuple(float(v) for v in rotation_range)

    def transform(self, results):
        params = dict(flip_x=bool(np.random.uniform() < self.flip_x_prob),
                      flip_y=bool(np.random.uniform() < self.flip_y_prob),
                      rotation=float(np.random.uniform(*self.rotation_range)))
        matrix = bev_matrix(params['flip_x'], params['flip_y'], params['rotation'])
        for key, fill in self.grid_fill.items():
            if key in results:
                if results[key].shape != self.occ_grid.grid_shape:
                    raise ValueError(f'BEVAug: {key} has shape {results[key].shape}, '
                                     f'expected {self.occ_grid.grid_shape}')
                results[key] = warp_grid_bev(results[key], matrix, fill, self.occ_grid)
        if 'ray_origins' in results:
            origins = np.asarray(results['ray_origins'])
            results['ray_origins'] = (origins.astype(np.float64) @ matrix[:3, :3].T).astype(
                origins.dtype)
        results['bev_aug'] = matrix @ results.get('bev_aug', np.eye(4))
        results['bev_aug_params'] = params
        if 'ego2cam' in results:
            refresh_projections(results)
        return results
