"""What the figure and the page draw alike: the Occ3D class colours and the ego vehicle."""
import numpy as np

from core.occ3d import FREE_LABEL

# Occ3D / SparseOcc-like class colours (RGB), index = label; 17 (free) is never drawn.
PALETTE = np.array([
    [0, 0, 0],          # others
    [255, 120, 50],     # barrier
    [255, 192, 203],    # bicycle
    [255, 255, 0],      # bus
    [0, 150, 245],      # car
    [0, 255, 255],      # construction_vehicle
    [200, 180, 0],      # motorcycle
    [255, 0, 0],        # pedestrian
    [255, 240, 150],    # traffic_cone
    [135, 60, 0],       # trailer
    [160, 32, 240],     # truck
    [255, 0, 255],      # driveable_surface
    [139, 137, 137],    # other_flat
    [75, 0, 75],        # sidewalk
    [150, 240, 80],     # terrain
    [230, 230, 250],    # manmade
    [0, 175, 0],        # vegetation
], dtype=np.uint8)
BACKGROUND = (255, 255, 255)
# The camera images as both show them: the front row over the back row, left to right.
CAMERA_GRID = (('CAM_FRONT_LEFT', 'CAM_FRONT', 'CAM_FRONT_RIGHT'),
               ('CAM_BACK_LEFT', 'CAM_BACK', 'CAM_BACK_RIGHT'))
# Length (x) and width (y) of the drawn ego vehicle in metres, centred on the ego origin.
EGO_SIZE = (4.1, 1.8)


def drawn_labels(labels):
    """Labels as drawn: uint8 [200, 200, 16] with anything above 17 (e.g. an ignore value
    255) as free (17)."""
    labels = np.asarray(labels)
    return np.where(labels > FREE_LABEL, FREE_LABEL, labels).astype(np.uint8)
