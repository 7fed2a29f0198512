"""Toy nuScenes world: a deterministic procedural dataset in the real nuScenes layout.

Modules, one concept each:

* ``config``    -- every world / sensor / rendering parameter (``WorldConfig``)
* ``geometry``  -- quaternions, yaw rotations, oriented-box tests
* ``world``     -- streets, ground label raster, buildings, vegetation,
                   traffic, pedestrians and the ego trajectory
* ``sensors``   -- nuScenes-like camera rig and LIDAR_TOP
* ``render``    -- z-buffer rasterised camera images and LiDAR ray casting
* ``occupancy`` -- Occ3D voxel labels and LiDAR / camera visibility masks
* ``tables``    -- nuScenes v1.0 JSON tables and tokens
* ``dataset``   -- writes the whole tree atomically (``generate``)

Entry points: ``tools/make_toy_nuscenes.py`` (``cli``) or ``generate(Options(out=...))``.
"""
from .config import OCC_CLASS_NAMES, WorldConfig
from .dataset import Options, generate, validate

__all__ = ['OCC_CLASS_NAMES', 'WorldConfig', 'Options', 'generate', 'validate']
