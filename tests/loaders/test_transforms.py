"""Image-view and BEV augmentations keep pixels, labels and camera matrices consistent."""

import numpy as np
import pytest

from core.geometry import project_to_image
from core.occ3d import FREE_LABEL, GRID_MIN, GRID_SHAPE, VOXEL_SIZE
from loaders.pipelines.transforms import BEVAug, ImageAug3D, bev_matrix, warp_grid_bev
from tests.loaders import geometry_helpers as helpers


def project(matrices, points):
    """Pixels [..., P, 2] of ``points`` [P, 3] through ``matrices`` [..., 4, 4]: NaN where a point
    is not in front of the camera (its pixels mean nothing there)."""
    pixels, depth = project_to_image(matrices, points, 1e-3)
    return np.where(depth[..., None] > 1e-3, pixels, np.nan)


POINTS = np.array([[12.0, 0.8, 1.3], [-9.0, -1.0, 0.9]])  # one in front of each camera


def _with_blobs():
    results = helpers.synthetic_results()
    for view, point in enumerate(POINTS):
        (u, v), = project(results['ego2img'][view], point[None])
        helpers.draw_blob(results['img'][view], u, v)
    return results


@pytest.mark.parametrize('flip,rotation,resize,bottom', [
    (False, 0.0, 1.0, 0.0), (True, 0.0, 1.0, 0.0), (False, 7.0, 1.0, 0.0),
    (True, -5.0, 1.2, 0.1), (False, 0.0, 0.9, 0.05)])
def test_augmented_projection_lands_on_the_same_content(flip, rotation, resize, bottom):
    results = _with_blobs()
    before = results['ego2img'].copy()
    aug = ImageAug3D(final_size=(96, 48), resize_range=(resize, resize),
                     bottom_crop_range=(bottom, bottom), flip_prob=float(flip),
                     rotation_range=(rotation, rotation))
    results = aug(results)
    assert results['img_aug_params']['flip'] == flip
    assert [img.shape for img in results['img']] == [(48, 96, 3)] * 2
    for view, point in enumerate(POINTS):
        (u, v), = project(results['ego2img'][view], point[None])
        # the augmented matrix is the image map applied to the original projection
        (u0, v0), = project(before[view], point[None])
        mapped = results['img_aug'][view] @ np.array([u0, v0, 1.0, 1.0])
        np.testing.assert_allclose(mapped[:2], (u, v), atol=1e-9)
        # and the blob drawn at the original projection is now at (u, v)
        np.testing.assert_allclose(helpers.centroid(results['img'][view], (u, v)), (u, v),
                                   atol=0.25)


def test_lidar2img_and_cam2ego_follow_the_augmentation():
    lidar2ego = np.eye(4)
    lidar2ego[:3, 3] = (0.9, 0.0, 1.8)
    results = helpers.synthetic_results(lidar2ego=lidar2ego)
    results = ImageAug3D(final_size=(96, 48), resize_range=(1.1, 1.1), flip_prob=1.0)(results)
    results = BEVAug(flip_x_prob=1.0, rotation_range=(30, 30))(results)
    point_lidar = np.array([[10.0, 2.0, -1.0]])
    point_ego = point_lidar + lidar2ego[:3, 3]
    point_aug = (results['bev_aug'] @ np.append(point_ego[0], 1.0))[None, :3]
    np.testing.assert_allclose(project(results['lidar2img'], point_lidar),
                               project(results['ego2img'], point_aug), atol=1e-9)
    for view in range(2):
        cam2img = results['img_aug'][view] @ results['cam2img'][view]
        np.testing.assert_allclose(cam2img @ np.linalg.inv(results['cam2ego'][view]),
                                   results['ego2img'][view], atol=1e-9)


def test_test_mode_is_deterministic_centre_and_bottom_crop():
    aug = ImageAug3D(final_size=(96, 48), resize_range=(0.8, 1.3), flip_prob=0.5,
                     rotation_range=(-10, 10), test_mode=True)
    first = aug(helpers.synthetic_results())['img_aug']
    second = aug(helpers.synthetic_results())['img_aug']
    np.testing.assert_array_equal(first, second)
    # 160 x 90 -> fit = max(48 / 90, 96 / 160) = 0.6 -> 96 x 54: bottom 48 rows, no x crop
    np.testing.assert_allclose(first[0, :2, :3],
                               [[0.6, 0, 0.5 * 0.6 - 0.5], [0, 0.6, 0.5 * 0.6 - 0.5 - 6]])


def _voxel_centre(index):
    return np.asarray(GRID_MIN) + VOXEL_SIZE * (np.asarray(index) + 0.5)


def _voxel_of(point):
    return tuple(np.floor((np.asarray(point) - GRID_MIN) / VOXEL_SIZE).astype(int))


@pytest.mark.parametrize('flip_x,flip_y,rotation', [
    (True, False, 0.0), (False, True, 0.0), (True, True, 0.0), (False, False, 90.0),
    (True, False, -90.0), (False, True, 180.0)])
def test_bev_augmentation_moves_labels_cameras_and_origins_together(flip_x, flip_y, rotation):
    results = helpers.synthetic_results()
    sem = np.full(GRID_SHAPE, FREE_LABEL, np.uint8)
    voxels = [(120, 90, 3), (30, 170, 7), (0, 199, 15)]
    for label, voxel in enumerate(voxels):
        sem[voxel] = label + 1
    mask = (sem != FREE_LABEL).astype(np.uint8)
    inst = sem.astype(np.int32) * 10
    origins = np.array([[0.9, 0.0, 1.8], [-12.0, 3.0, 1.8]], np.float32)
    results.update(gt_occ_sem=sem, mask_camera=mask, mask_lidar=mask.copy(), gt_occ_inst=inst,
                   ray_origins=origins)
    before = results['ego2img'].copy()
    aug = BEVAug(flip_x_prob=float(flip_x), flip_y_prob=float(flip_y),
                 rotation_range=(rotation, rotation))
    results = aug(results)
    matrix = bev_matrix(flip_x, flip_y, rotation)
    np.testing.assert_allclose(results['bev_aug'], matrix)
    # cameras: ego2img @ bev_aug(point) == original projection of point
    points = np.array([[12.0, 0.8, 1.3], [-9.0, -1.0, 0.9], [3.0, 7.0, 0.2]])
    moved = points @ matrix[:3, :3].T
    np.testing.assert_allclose(project(results['ego2img'], moved), project(before, points),
                               atol=1e-6)
    # labels, masks and instances moved to the voxel containing bev_aug(centre)
    for label, voxel in enumerate(voxels):
        target = _voxel_of(matrix[:3, :3] @ _voxel_centre(voxel))
        assert results['gt_occ_sem'][target] == label + 1
        assert results['gt_occ_inst'][target] == (label + 1) * 10
        assert results['mask_camera'][target] == 1 and results['mask_lidar'][target] == 1
    assert (results['gt_occ_sem'] != FREE_LABEL).sum() == len(voxels)
    assert results['mask_camera'].sum() == len(voxels)
    np.testing.assert_allclose(results['ray_origins'], origins @ matrix[:3, :3].T, atol=1e-6)


def test_arbitrary_rotation_resamples_with_free_outside():
    sem = np.zeros(GRID_SHAPE, np.uint8)
    out = warp_grid_bev(sem, bev_matrix(False, False, 45.0), FREE_LABEL)
    assert out[0, 0, 0] == FREE_LABEL      # corners come from outside the grid
    assert out[100, 100, 0] == 0           # the centre stays inside


@pytest.mark.parametrize('unknown_label', [255, FREE_LABEL])
def test_bev_rotation_labels_the_corners_it_brings_in_unknown(unknown_label):
    """SparseOcc fills them with 255, which the losses leave out; 17 calls them free."""
    results = dict(gt_occ_sem=np.zeros(GRID_SHAPE, np.uint8), bev_aug=np.eye(4))
    out = BEVAug(rotation_range=(45, 45), unknown_label=unknown_label)(results)['gt_occ_sem']
    assert out[0, 0, 0] == unknown_label and out[100, 100, 0] == 0
    assert BEVAug().grid_fill['gt_occ_sem'] == 255


def test_bev_aug_rejects_a_wrong_grid():
    with pytest.raises(ValueError, match=r'gt_occ_sem has shape \(10, 10, 16\)'):
        BEVAug(flip_x_prob=1.0)(dict(gt_occ_sem=np.zeros((10, 10, 16), np.uint8),
                                     bev_aug=np.eye(4)))
