"""Occ3D-nuScenes conventions shared by datasets, metrics and tools.

Grid: 200 x 200 x 16 voxels of 0.4 m indexed [x, y, z] in the ego frame, covering
x, y in [-40, 40] m and z in [-1, 5.4] m; voxel (i, j, k) has its centre at
GRID_MIN + VOXEL_SIZE * ((i, j, k) + 0.5).

These are the defaults. A dataset on another grid or label set states its own in its
dataset config (``occ_grid``, ``occ_class_names``), which hands them to the model, the
pipeline and the evaluator; the label of free space is always the last class.
"""
from dataclasses import dataclass

OCC3D_CLASS_NAMES = (
    'others', 'barrier', 'bicycle', 'bus', 'car', 'construction_vehicle', 'motorcycle',
    'pedestrian', 'traffic_cone', 'trailer', 'truck', 'driveable_surface', 'other_flat',
    'sidewalk', 'terrain', 'manmade', 'vegetation', 'free')
FREE_LABEL = len(OCC3D_CLASS_NAMES) - 1
# The classes that form instances (SparseOcc's: panoptic targets, RayPQ's per-instance
# ground-truth segments).
OCC3D_THING_CLASSES = ('car', 'truck', 'construction_vehicle', 'bus', 'trailer', 'motorcycle',
                       'bicycle', 'pedestrian')
GRID_SHAPE = (200, 200, 16)
GRID_MIN = (-40.0, -40.0, -1.0)
VOXEL_SIZE = 0.4

# The six nuScenes cameras in the order the devkit, mmdet3d and SparseOcc list them; the
# per-frame image order of every sample follows it.
NUSCENES_CAMERAS = ('CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT',
                    'CAM_BACK', 'CAM_BACK_LEFT', 'CAM_BACK_RIGHT')


@dataclass(frozen=True)
class OccGrid:
    """A regular voxel grid in the ego frame (cubic voxels).

    Attributes:
        grid_min (tuple of 3 floats): (x, y, z) of the grid's lower corner, metres.
        voxel_size (float): voxel edge, metres.
        grid_shape (tuple of 3 ints): (X, Y, Z) voxels.
    """
    grid_min: tuple = GRID_MIN
    voxel_size: float = VOXEL_SIZE
    grid_shape: tuple = GRID_SHAPE

    def __post_init__(self):
        object.__setattr__(self, 'grid_min', tuple(float(v) for v in self.grid_min))
        object.__setattr__(self, 'voxel_size', float(self.voxel_size))
        object.__setattr__(self, 'grid_shape', tuple(int(v) for v in self.grid_shape))
        if len(self.grid_min) != 3 or len(self.grid_shape) != 3 or self.voxel_size <= 0 or \
                min(self.grid_shape) < 1:
            raise ValueError(f'OccGrid: grid_min needs 3 values, grid_shape 3 positive ints and '
                             f'voxel_size > 0; got {self.grid_min}, {self.grid_shape}, '
                             f'{self.voxel_size}')

    @classmethod
    def of(cls, grid):
        """The grid of ``grid``: an :class:`OccGrid`, a config dict of its fields, or None
        (Occ3D's)."""
        if grid is None:
            return OCC3D_GRID
        if isinstance(grid, cls):
            return grid
        unknown = set(grid) - {'grid_min', 'voxel_size', 'grid_shape'}
        if unknown:
            raise ValueError(f'OccGrid: unknown keys {sorted(unknown)} (grid_min, voxel_size, '
                             f'grid_shape)')
        return cls(**grid)

    @property
    def grid_max(self):
        """(x, y, z) of the upper corner, metres."""
        return tuple(lo + self.voxel_size * n for lo, n in zip(self.grid_min, self.grid_shape))

    def as_dict(self):
        """The config form: dict of ``grid_min``, ``voxel_size``, ``grid_shape``."""
        return dict(grid_min=self.grid_min, voxel_size=self.voxel_size,
                    grid_shape=self.grid_shape)


OCC3D_GRID = OccGrid()


def free_label_of(class_names):
    """The free label of a class list (its last entry, ``'free'``).

    Raises:
        ValueError: the list does not end with ``'free'``.
    """
    if not class_names or class_names[-1] != 'free':
        raise ValueError(f'occupancy class names must end with "free", got {list(class_names)}')
    return len(class_names) - 1
