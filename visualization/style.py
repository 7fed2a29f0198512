"""What the figure and the page draw alike: the class colours, the grid being drawn and the
ego vehicle."""
import math

import numpy as np

from core.occ3d import OCC3D_CLASS_NAMES, OccGrid, free_label_of

# Occ3D / SparseOcc-like class colours (RGB); free is never drawn.
OCC3D_COLOURS = {
    'others': (0, 0, 0),
    'barrier': (255, 120, 50),
    'bicycle': (255, 192, 203),
    'bus': (255, 255, 0),
    'car': (0, 150, 245),
    'construction_vehicle': (0, 255, 255),
    'motorcycle': (200, 180, 0),
    'pedestrian': (255, 0, 0),
    'traffic_cone': (255, 240, 150),
    'trailer': (135, 60, 0),
    'truck': (160, 32, 240),
    'driveable_surface': (255, 0, 255),
    'other_flat': (139, 137, 137),
    'sidewalk': (75, 0, 75),
    'terrain': (150, 240, 80),
    'manmade': (230, 230, 250),
    'vegetation': (0, 175, 0),
}
# Candidate colours of class names Occ3D does not have (a merged or another dataset's label
# set; matplotlib's tab20), each taken only when it stands apart from the colours already in
# use (RGB distance >= MIN_COLOUR_DISTANCE).
OTHER_COLOURS = ((31, 119, 180), (174, 199, 232), (255, 127, 14), (255, 187, 120),
                 (44, 160, 44), (152, 223, 138), (214, 39, 40), (255, 152, 150),
                 (148, 103, 189), (197, 176, 213), (140, 86, 75), (196, 156, 148),
                 (227, 119, 194), (247, 182, 210), (127, 127, 127), (199, 199, 199),
                 (188, 189, 34), (219, 219, 141), (23, 190, 207), (158, 218, 229))
MIN_COLOUR_DISTANCE = 60.0
BACKGROUND = (255, 255, 255)
# The camera images as both show them: the front row over the back row, left to right.
CAMERA_GRID = (('CAM_FRONT_LEFT', 'CAM_FRONT', 'CAM_FRONT_RIGHT'),
               ('CAM_BACK_LEFT', 'CAM_BACK', 'CAM_BACK_RIGHT'))
# Length (x) and width (y) of the drawn ego vehicle in metres, centred on the ego origin.
EGO_SIZE = (4.1, 1.8)


class GridStyle:
    """How label grids are drawn: their voxel grid, their label set and a colour per label.

    Args:
        class_names (sequence of str, optional): the label names, free last; Occ3D's when
            None. Occ3D's names keep Occ3D's colours, other names take the first of
            ``OTHER_COLOURS`` that stands apart from those in use (cycling when none does).
        occ_grid (OccGrid or dict, optional): the voxel grid; Occ3D's when None.

    Attributes:
        class_names (tuple of str), free_label (int), occ_grid (OccGrid);
        palette (np.ndarray): uint8 [free_label, 3] RGB per drawn label.
    """

    def __init__(self, class_names=None, occ_grid=None):
        self.class_names = tuple(OCC3D_CLASS_NAMES if class_names is None else class_names)
        self.free_label = free_label_of(self.class_names)
        self.occ_grid = OccGrid.of(occ_grid)
        names = self.class_names[:-1]
        used = [OCC3D_COLOURS[name] for name in names if name in OCC3D_COLOURS]
        spare = []
        for candidate in OTHER_COLOURS:
            if all(math.dist(candidate, c) >= MIN_COLOUR_DISTANCE for c in used + spare):
                spare.append(candidate)
        spare = iter((spare or list(OTHER_COLOURS)) * len(names))
        self.palette = np.array([OCC3D_COLOURS.get(name) or next(spare) for name in names],
                                dtype=np.uint8)

    def drawn_labels(self, labels):
        """Labels as drawn: uint8 [X, Y, Z] with anything above the free label (e.g. an
        ignore value 255) as free.

        Raises:
            ValueError: ``labels`` is not on this style's grid.
        """
        labels = np.asarray(labels)
        if labels.shape != self.occ_grid.grid_shape:
            raise ValueError(f'grid has shape {labels.shape}, expected '
                             f'{self.occ_grid.grid_shape}')
        return np.where(labels > self.free_label, self.free_label, labels).astype(np.uint8)


OCC3D_STYLE = GridStyle()
