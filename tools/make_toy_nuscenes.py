#!/usr/bin/env python
"""Generate the toy nuScenes world (nuScenes v1.0 layout + Occ3D labels).

Example::

    python tools/make_toy_nuscenes.py --out data/toy_nuscenes
    python tools/make_toy_nuscenes.py --out /tmp/tiny --scenes 2 --frames-per-scene 3 \\
        --sweeps 1 --image-size 160 90

The output loads with ``NuScenes('v1.0-trainval', dataroot=DIR)``; the split
of scenes into train / val is in ``DIR/toy_split.json``.
"""
from toy_nuscenes.cli import main

if __name__ == '__main__':
    main()
