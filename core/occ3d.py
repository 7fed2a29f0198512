"""Occ3D-nuScenes conventions shared by datasets, metrics and tools.

Grid: 200 x 200 x 16 voxels of 0.4 m indexed [x, y, z] in the ego frame, covering
x, y in [-40, 40] m and z in [-1, 5.4] m; voxel (i, j, k) has its centre at
GRID_MIN + VOXEL_SIZE * ((i, j, k) + 0.5).
"""
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
