#!/usr/bin/env python
"""How close the toy world's LiDAR-built labels come to its true solid geometry.

The toy world's ground truth is built as Occ3D builds it, from accumulated LiDAR returns
(``toy_nuscenes/occupancy.py``), so it drops what the scene's LiDAR cannot see. This tool
rebuilds each scene of a generated world, voxelises its true solid geometry at every keyframe
(every box filled), and scores the labels against it with RayIoU, the metric's rays seeing
only what a LiDAR at the ego sees: a high figure says the construction kept the visible
world. It also scores the solid grid with its hidden interiors carved, which must be 1.

Example::

    python tools/toy_label_check.py --data-root data/toy_nuscenes --split val
"""
import argparse
import json
import os
import sys

import numpy as np

from core.ego_pose import ray_origins_of_infos
from core.geometry import hidden_voxels
from core.grid_io import load_npz_grids
from core.infos import load_info_file
from evaluation.ray_metrics import main_rayiou
from toy_nuscenes.config import FREE, WorldConfig
from toy_nuscenes.dataset import STAMP_FILE, Options, keyframe_frames, scene_world
from toy_nuscenes.occupancy import solid_semantics


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--data-root', required=True, help='a toy world (with its infos)')
    parser.add_argument('--split', default='val')
    args = parser.parse_args(argv)
    stamp_path = os.path.join(args.data_root, STAMP_FILE)
    try:
        with open(stamp_path) as f:
            stamp = json.load(f)
        _, infos = load_info_file(os.path.join(args.data_root,
                                               f'nuscenes_infos_{args.split}_sweep.pkl'),
                                  data_root=args.data_root)
    except (OSError, ValueError) as exc:
        sys.exit(f'toy_label_check: error: {exc}')
    opts = Options(out=args.data_root, scenes=stamp['scenes'],
                   frames_per_scene=stamp['frames_per_scene'], sweeps=stamp['sweeps'],
                   seed=stamp['seed'])
    cfg = WorldConfig()
    keyframes = keyframe_frames(cfg, opts)
    origins = ray_origins_of_infos(infos)
    by_scene = {}
    for info in infos:
        by_scene.setdefault(info['scene_name'], []).append(info)
    labels, solids, carved, ray_origins = [], [], [], []
    for name, frames in sorted(by_scene.items()):
        world = scene_world(cfg, opts, int(name.split('-')[1]) - 1)
        for k, info in enumerate(sorted(frames, key=lambda info: info['timestamp'])):
            ti = keyframes[k]
            solid = solid_semantics(cfg, world, world.state(ti), *world.ego_pose(ti))
            solids.append(solid)
            carved.append(np.where(hidden_voxels(solid != FREE), FREE, solid).astype(np.uint8))
            labels.append(load_npz_grids(os.path.join(args.data_root, info['occ_path']),
                                         ['semantics'], 'occupancy labels')['semantics'])
            ray_origins.append(origins[info['token']])
    print(f'{len(labels)} {args.split} keyframes; labels scored against the solid geometry:')
    built = main_rayiou(labels, solids, ray_origins, verbose=True)
    carved_score = main_rayiou(carved, solids, ray_origins, verbose=False)['RayIoU']
    occupied = np.mean([(s != FREE).mean() for s in solids])
    print(f"RayIoU of the LiDAR-built labels: {built['RayIoU']:.4f}; of the solid grid with its "
          f'hidden interiors carved: {carved_score:.4f}; solid occupancy {100 * occupied:.1f} %')
    return built, carved_score


if __name__ == '__main__':
    main()
