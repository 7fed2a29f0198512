"""core.geometry: voxel centres, the voxel of a point and the projection into images, for
tensors and arrays alike."""
import numpy as np
import torch

from core.geometry import dense_coords, hidden_voxels, project_to_image, voxel_centres, voxel_of
from core.occ3d import GRID_MIN, GRID_SHAPE, VOXEL_SIZE


def test_centres_of_the_occ3d_grid_by_hand():
    corners = np.array([[0, 0, 0], [199, 199, 15], [100, 50, 2]])
    expected = np.array([[-39.8, -39.8, -0.8], [39.8, 39.8, 5.2], [0.2, -19.8, 0.0]])
    np.testing.assert_allclose(voxel_centres(corners, GRID_MIN, VOXEL_SIZE), expected,
                               atol=1e-12)
    centres = voxel_centres(torch.from_numpy(corners), GRID_MIN, VOXEL_SIZE)
    assert centres.dtype == torch.float32
    np.testing.assert_allclose(centres.numpy(), expected, atol=1e-5)


def test_each_centre_lies_in_its_voxel_and_per_axis_edges():
    coords = dense_coords((5, 4, 3))
    assert coords.shape == (60, 3) and coords[1].tolist() == [0, 0, 1]
    edges = (0.5, 1.0, 2.0)
    centres = voxel_centres(coords, (-1.0, 2.0, 0.0), edges)
    assert torch.equal(voxel_of(centres, (-1.0, 2.0, 0.0), edges).long(), coords)
    assert np.array_equal(voxel_of(centres.numpy(), (-1.0, 2.0, 0.0), edges), coords.numpy())


def test_points_outside_the_grid_get_out_of_range_indices():
    index = voxel_of(np.array([[-40.01, 0.0, 5.4], [40.0, -40.0, -1.0]]), GRID_MIN, VOXEL_SIZE)
    assert index.tolist() == [[-1, 100, GRID_SHAPE[2]], [GRID_SHAPE[0], 0, 0]]


def _forward_camera(focal, cx, cy, height):
    """ego2img of a camera ``height`` m above the ego origin looking along ego +x (camera x
    right = ego -y, camera y down = ego -z)."""
    ego2cam = np.array([[0.0, -1.0, 0.0, 0.0], [0.0, 0.0, -1.0, height],
                        [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
    cam2img = np.array([[focal, 0.0, cx, 0.0], [0.0, focal, cy, 0.0], [0.0, 0.0, 1.0, 0.0],
                        [0.0, 0.0, 0.0, 1.0]])
    return cam2img @ ego2cam


def test_projection_by_hand_and_behind_the_camera():
    ego2img = _forward_camera(focal=100.0, cx=80.0, cy=45.0, height=1.5)
    # 10 m ahead, 2 m to the left, at camera height; then a point 5 m behind the camera
    points = np.array([[10.0, 2.0, 1.5], [-5.0, 0.0, 1.5]])
    pixels, depth = project_to_image(ego2img, points, 0.1)
    np.testing.assert_allclose(depth, [10.0, -5.0])
    np.testing.assert_allclose(pixels[0], [80.0 - 100.0 * 2.0 / 10.0, 45.0])
    # behind: divided by min_depth, finite
    np.testing.assert_allclose(pixels[1], [80.0 * -5.0 / 0.1, 45.0 * -5.0 / 0.1])


def test_projection_broadcasts_views_and_tensors_match_arrays():
    rng = np.random.default_rng(0)
    matrices = np.stack([_forward_camera(100.0 + 10 * v, 80.0, 45.0, 1.5) for v in range(3)])
    matrices = np.stack([matrices, matrices[::-1]])                     # [B=2, V=3, 4, 4]
    points = rng.uniform(1.0, 20.0, (2, 7, 3))                          # [B, P, 3]
    pixels, depth = project_to_image(matrices, points[:, None], 0.1)
    assert pixels.shape == (2, 3, 7, 2) and depth.shape == (2, 3, 7)
    one_pixels, one_depth = project_to_image(matrices[1, 2], points[1], 0.1)
    np.testing.assert_array_equal(pixels[1, 2], one_pixels)
    np.testing.assert_array_equal(depth[1, 2], one_depth)
    tensor_pixels, tensor_depth = project_to_image(torch.from_numpy(matrices).float(),
                                                   torch.from_numpy(points).float()[:, None],
                                                   0.1)
    assert tensor_pixels.dtype == torch.float32
    np.testing.assert_allclose(tensor_pixels.numpy(), pixels, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(tensor_depth.numpy(), depth, rtol=1e-5, atol=1e-5)


def test_hidden_voxels_are_those_enclosed_on_all_six_faces():
    occupied = np.zeros((6, 6, 6), dtype=bool)
    occupied[1:4, 1:4, 1:4] = True          # a 3-voxel cube: only its centre is enclosed
    occupied[5, 0:3, 0:3] = True            # a slab on the grid's edge: outside counts as free
    expected = np.zeros_like(occupied)
    expected[2, 2, 2] = True
    assert np.array_equal(hidden_voxels(occupied), expected)
    occupied[2, 2, 3] = False               # a neighbour removed: the centre is exposed
    assert not hidden_voxels(occupied).any()
