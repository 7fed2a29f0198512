"""The grid value type and the free-label rule of core.occ3d."""
import pytest

from core.occ3d import (GRID_MIN, GRID_SHAPE, OCC3D_CLASS_NAMES, OCC3D_GRID, VOXEL_SIZE, OccGrid,
                        free_label_of)


def test_occ_grid_defaults_are_occ3d_and_configs_convert():
    assert OCC3D_GRID == OccGrid(GRID_MIN, VOXEL_SIZE, GRID_SHAPE) == OccGrid.of(None)
    assert OCC3D_GRID.grid_max == pytest.approx((40.0, 40.0, 5.4))
    grid = OccGrid.of(dict(grid_min=[-40, -40, -1], voxel_size=0.8, grid_shape=[100, 100, 8]))
    assert grid.grid_shape == (100, 100, 8) and grid.voxel_size == 0.8
    assert OccGrid.of(grid.as_dict()) == grid and OccGrid.of(grid) is grid


def test_bad_grids_and_class_lists_are_refused():
    with pytest.raises(ValueError, match='unknown keys'):
        OccGrid.of(dict(grid_min=GRID_MIN, voxel=0.4, grid_shape=GRID_SHAPE))
    with pytest.raises(ValueError, match='grid_shape 3 positive ints'):
        OccGrid(GRID_MIN, 0.4, (200, 200))
    assert free_label_of(OCC3D_CLASS_NAMES) == 17
    with pytest.raises(ValueError, match='must end with "free"'):
        free_label_of(OCC3D_CLASS_NAMES[:-1])
