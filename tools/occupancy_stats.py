#!/usr/bin/env python
"""Statistics of an Occ3D-layout ground truth, per split, beside Occ3D-nuScenes' figures.

Per split: the occupied share of the grid, the share of occupied voxels hidden inside the
occupied set (all 6 face neighbours occupied), the shares of the LiDAR and camera visibility
masks, and the class shares of the occupied voxels. The Occ3D column comes from the class
frequencies the dataset config carries (``occ_class_frequencies``), so it compares class mixes;
the train split's own frequencies are printed as a config line (the cross-entropy weights of a
config trained on this data).

Example::

    python tools/occupancy_stats.py --data-root data/toy_nuscenes
    python tools/occupancy_stats.py --data-root data/nuscenes --splits val --out stats.json
"""
import argparse
import os
import sys

import numpy as np

from core.atomic_file import write_json_atomic
from core.errors import DataFileError
from core.geometry import hidden_voxels
from core.grid_io import load_npz_grids
from core.infos import load_info_file
from core.occ3d import FREE_LABEL, OCC3D_CLASS_NAMES

REFERENCE_CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                'configs', '_base_', 'datasets', 'occ3d_nuscenes.py')
NUM_LABELS = len(OCC3D_CLASS_NAMES)


def split_statistics(data_root, infos, progress=True):
    """Sums over the samples ``infos`` (dicts with ``occ_path`` relative to ``data_root``).

    Returns a dict: samples (int), voxels (int), label_counts (int64 [18]), hidden, lidar,
    camera, occupied_in_camera (int voxel counts).
    """
    from tqdm import tqdm

    stats = dict(samples=0, voxels=0, label_counts=np.zeros(NUM_LABELS, dtype=np.int64),
                 hidden=0, lidar=0, camera=0, occupied_in_camera=0)
    for info in tqdm(infos, desc='ground truth', unit='sample', disable=not progress):
        grids = load_npz_grids(os.path.join(data_root, info['occ_path']),
                               ['semantics', 'mask_lidar', 'mask_camera'], 'occupancy labels')
        semantics = grids['semantics']
        occupied = semantics != FREE_LABEL
        camera = grids['mask_camera'].astype(bool)
        stats['samples'] += 1
        stats['voxels'] += semantics.size
        stats['label_counts'] += np.bincount(semantics.reshape(-1).astype(np.int64),
                                             minlength=NUM_LABELS)[:NUM_LABELS]
        stats['hidden'] += int(hidden_voxels(occupied).sum())
        stats['lidar'] += int(grids['mask_lidar'].astype(bool).sum())
        stats['camera'] += int(camera.sum())
        stats['occupied_in_camera'] += int((occupied & camera).sum())
    return stats


def summary_of(stats):
    """Shares in percent (dict) of ``split_statistics``' sums."""
    occupied = int(stats['label_counts'][:FREE_LABEL].sum())
    return dict(samples=stats['samples'],
                occupied=100.0 * occupied / max(stats['voxels'], 1),
                hidden_of_occupied=100.0 * stats['hidden'] / max(occupied, 1),
                mask_lidar=100.0 * stats['lidar'] / max(stats['voxels'], 1),
                mask_camera=100.0 * stats['camera'] / max(stats['voxels'], 1),
                occupied_in_camera=100.0 * stats['occupied_in_camera'] / max(occupied, 1),
                class_shares={name: 100.0 * int(count) / max(occupied, 1) for name, count
                              in zip(OCC3D_CLASS_NAMES[:FREE_LABEL],
                                     stats['label_counts'][:FREE_LABEL])},
                label_counts=[int(c) for c in stats['label_counts']])


def reference_class_shares(config_path=REFERENCE_CONFIG):
    """Occ3D-nuScenes' class shares of occupied voxels in percent (dict), from the
    ``occ_class_frequencies`` of ``config_path``."""
    from mmengine.config import Config

    counts = np.asarray(Config.fromfile(config_path).occ_class_frequencies, dtype=np.float64)
    return {name: 100.0 * c / counts[:FREE_LABEL].sum()
            for name, c in zip(OCC3D_CLASS_NAMES[:FREE_LABEL], counts[:FREE_LABEL])}


def format_table(summaries, reference):
    """The printed table (str): one column per split, plus Occ3D's class shares."""
    splits = list(summaries)
    head = f"{'':24s}" + ''.join(f'{s:>10s}' for s in splits) + f"{'Occ3D':>10s}"
    rows = [head]

    def row(label, values, ref=''):
        rows.append(f'{label:24s}' + ''.join(f'{v:>10s}' for v in values) + f'{ref:>10s}')

    row('samples', [str(summaries[s]['samples']) for s in splits])
    for key, label, ref in (('occupied', 'occupied % of grid', '< 10'),
                            ('hidden_of_occupied', 'hidden % of occupied', '~0'),
                            ('mask_lidar', 'mask_lidar % of grid', ''),
                            ('mask_camera', 'mask_camera % of grid', ''),
                            ('occupied_in_camera', 'occupied seen by cams %', '')):
        row(label, [f'{summaries[s][key]:.1f}' for s in splits], ref)
    rows.append('class % of occupied')
    for name in OCC3D_CLASS_NAMES[:FREE_LABEL]:
        row(f'  {name}', [f"{summaries[s]['class_shares'][name]:.1f}" for s in splits],
            f'{reference[name]:.1f}')
    return '\n'.join(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--data-root', required=True,
                        help='dataset root holding nuscenes_infos_<split>_sweep.pkl')
    parser.add_argument('--splits', nargs='+', default=['train', 'val'])
    parser.add_argument('--out', help='also write the figures as JSON here')
    parser.add_argument('--no-progress', action='store_true')
    args = parser.parse_args(argv)
    summaries = {}
    try:
        for split in args.splits:
            path = os.path.join(args.data_root, f'nuscenes_infos_{split}_sweep.pkl')
            _, infos = load_info_file(path, data_root=args.data_root)
            summaries[split] = summary_of(split_statistics(args.data_root, infos,
                                                           progress=not args.no_progress))
    except (FileNotFoundError, DataFileError) as exc:
        sys.exit(f'occupancy_stats: error: {exc}')
    reference = reference_class_shares()
    print(format_table(summaries, reference))
    if 'train' in summaries:
        print('\n# class frequencies of the train split (a dataset config\'s '
              'occ_class_frequencies):')
        print(f"occ_class_frequencies = {summaries['train']['label_counts']}")
    if args.out:
        write_json_atomic(dict(splits=summaries, occ3d_class_shares=reference), args.out)
    return summaries


if __name__ == '__main__':
    main()
