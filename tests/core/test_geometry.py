"""core.geometry: voxel centres and the voxel of a point, for tensors and arrays alike."""
import numpy as np
import torch

from core.geometry import dense_coords, voxel_centres, voxel_of
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
