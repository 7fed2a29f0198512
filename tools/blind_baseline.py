#!/usr/bin/env python
"""Writes the image-blind baseline: every val keyframe gets the per-voxel most frequent
training label (ego frame), whatever its images show.

It is the best single prediction that ignores the cameras, so a model must beat it to show
it uses them. Outputs ``<sample_token>.npz`` (key ``pred``, uint8 [200, 200, 16]) that
``tools/ray_metrics.py`` evaluates.

Example::

    python tools/blind_baseline.py --data-root data/toy_nuscenes --out-dir work_dirs/blind
    python tools/ray_metrics.py --data-root data/toy_nuscenes --pred-dir work_dirs/blind
"""
import argparse
import os

import numpy as np

from core.atomic_file import atomic_path
from core.errors import DataFileError
from core.grid_io import load_npz_grids
from core.infos import load_info_file
from core.occ3d import GRID_SHAPE, OCC3D_CLASS_NAMES


def most_frequent_labels(data_root, infos, progress=True):
    """uint8 [200, 200, 16]: per voxel, the label seen most often over ``infos``' GT."""
    from tqdm import tqdm

    num_classes = len(OCC3D_CLASS_NAMES)
    counts = np.zeros(GRID_SHAPE + (num_classes,), dtype=np.int32)
    flat = counts.reshape(-1, num_classes)
    voxels = np.arange(flat.shape[0])
    for info in tqdm(infos, desc='label statistics', unit='sample', disable=not progress):
        semantics = load_npz_grids(os.path.join(data_root, info['occ_path']), ['semantics'],
                                   'ground truth')['semantics']
        np.add.at(flat, (voxels, semantics.reshape(-1).astype(np.int64)), 1)
    return counts.argmax(-1).astype(np.uint8)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--data-root', required=True)
    parser.add_argument('--out-dir', required=True, help='folder for <sample_token>.npz')
    parser.add_argument('--train-ann', default='nuscenes_infos_train_sweep.pkl')
    parser.add_argument('--val-ann', default='nuscenes_infos_val_sweep.pkl')
    parser.add_argument('--no-progress', action='store_true')
    args = parser.parse_args(argv)
    try:
        train = load_info_file(os.path.join(args.data_root, args.train_ann), args.data_root)[1]
        val = load_info_file(os.path.join(args.data_root, args.val_ann), args.data_root)[1]
        pred = most_frequent_labels(args.data_root, train, progress=not args.no_progress)
    except (FileNotFoundError, DataFileError) as exc:
        raise SystemExit(f'blind_baseline: error: {exc}')
    os.makedirs(args.out_dir, exist_ok=True)
    for info in val:
        path = os.path.join(args.out_dir, info['token'] + '.npz')
        with atomic_path(path, suffix='.npz') as tmp:
            np.savez_compressed(tmp, pred=pred)
    print(f'wrote {len(val)} image-blind predictions to {args.out_dir}')


if __name__ == '__main__':
    main()
