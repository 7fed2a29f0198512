#!/usr/bin/env python
"""Evaluate saved occupancy predictions with RayIoU and mIoU (camera mask).

Example::

    python tools/ray_metrics.py --data-root data/nuscenes --pred-dir work_dirs/preds \\
        --ann-file nuscenes_infos_val_sweep.pkl --out work_dirs/preds/metrics.json

``--pred-dir`` holds one ``<sample_token>.npz`` per keyframe of the info file, with key
``pred``: uint8 [200, 200, 16] labels (17 = free), indexed [x, y, z] in the keyframe's ego
frame. Ground truth comes from each info's ``occ_path`` (relative to ``--data-root``), the
ray origins from the infos' ego poses (``loaders.ego_pose``).
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from loaders.atomic_file import write_json_atomic  # noqa: E402
from loaders.ego_pose import ray_origins_of_infos  # noqa: E402
from loaders.errors import DataFileError, missing_file  # noqa: E402
from loaders.grid_io import load_npz_grids  # noqa: E402
from loaders.infos import load_info_file  # noqa: E402
from loaders.occ3d import OCC3D_CLASS_NAMES  # noqa: E402
from loaders.old_metrics import Metric_mIoU  # noqa: E402
from loaders.ray_metrics import (THRESHOLDS, cast_pred_and_gt, rayiou_counts,  # noqa: E402
                                 rayiou_from_counts)

PRED_SUFFIX = '.npz'


def load_infos(path, data_root=''):
    """The GD-OCC infos of an info pickle of either layout (``tools/create_data.py``'s or
    SparseOcc's, see ``loaders.infos``), paths relative to ``data_root``
    (``FileNotFoundError`` / ``DataFileError`` naming the file)."""
    return load_info_file(path, data_root)[1]


def index_predictions(pred_dir):
    """Prediction files by sample token (one directory listing, O(N))."""
    if not os.path.isdir(pred_dir):
        raise missing_file(pred_dir, 'prediction folder')
    return {name[:-len(PRED_SUFFIX)]: os.path.join(pred_dir, name)
            for name in os.listdir(pred_dir) if name.endswith(PRED_SUFFIX)}


def evaluate(data_root, pred_dir, ann_file, progress=True):
    """RayIoU (RayIoU@1/2/4, per class) and camera-mask mIoU of a prediction folder.

    Every keyframe of ``ann_file`` must have a prediction; GT-as-prediction gives
    RayIoU 1.0 and mIoU 100.

    Returns:
        dict: ``RayIoU``, ``RayIoU@1``, ``RayIoU@2``, ``RayIoU@4`` (fractions), ``mIoU``
        (percent), ``per_class_RayIoU`` (class -> IoU per threshold), ``per_class_IoU``
        (percent), ``num_samples``.
    """
    from tqdm import tqdm

    if not os.path.isdir(data_root):
        raise missing_file(data_root, 'data root')
    infos = load_infos(ann_file, data_root)
    predictions = index_predictions(pred_dir)
    missing = [info['token'] for info in infos if info['token'] not in predictions]
    if missing:
        raise missing_file(os.path.join(pred_dir, missing[0] + PRED_SUFFIX),
                           f'prediction ({len(missing)} of {len(infos)} keyframes have none)')
    origins = ray_origins_of_infos(infos)
    counts = np.zeros((2 + len(THRESHOLDS), len(OCC3D_CLASS_NAMES)), dtype=np.int64)
    miou = Metric_mIoU(len(OCC3D_CLASS_NAMES), use_image_mask=True)
    for info in tqdm(infos, desc='ray metrics', unit='sample', disable=not progress):
        gt_path = os.path.join(data_root, info['occ_path'])
        gt = load_npz_grids(gt_path, ['semantics', 'mask_camera'], 'ground truth')
        pred_path = predictions[info['token']]
        pred = load_npz_grids(pred_path, ['pred'], 'prediction')['pred']
        if pred.min() < 0 or pred.max() >= len(OCC3D_CLASS_NAMES):
            raise DataFileError(pred_path, f'prediction: labels must lie in [0, '
                                           f'{len(OCC3D_CLASS_NAMES) - 1}], found '
                                           f'[{pred.min()}, {pred.max()}]')
        pred = pred.astype(np.uint8)
        counts += rayiou_counts(*cast_pred_and_gt(pred, gt['semantics'], origins[info['token']]))
        miou.add_batch(pred, gt['semantics'], None, gt['mask_camera'])
    ray = rayiou_from_counts(counts, OCC3D_CLASS_NAMES, verbose=progress)
    result = {key: ray[key] for key in ['RayIoU'] + [f'RayIoU@{t:g}' for t in THRESHOLDS]}
    result['mIoU'] = float(miou.count_miou(verbose=progress))
    result['per_class_RayIoU'] = ray['per_class']
    result['per_class_IoU'] = {name: float(iou) * 100 for name, iou in
                               zip(OCC3D_CLASS_NAMES[:-1], miou.per_class_iou()[:-1])}
    result['num_samples'] = len(infos)
    return result


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--data-root', required=True, help='nuScenes / toy data root')
    parser.add_argument('--pred-dir', required=True, help='folder of <sample_token>.npz')
    parser.add_argument('--ann-file', default='nuscenes_infos_val_sweep.pkl',
                        help='info pickle (relative to --data-root unless absolute)')
    parser.add_argument('--out', default=None, help='write the metrics as JSON here')
    parser.add_argument('--no-progress', action='store_true', help='hide the progress bar')
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    ann_file = args.ann_file if os.path.isabs(args.ann_file) else os.path.join(
        args.data_root, args.ann_file)
    try:
        result = evaluate(args.data_root, args.pred_dir, ann_file, progress=not args.no_progress)
    except (FileNotFoundError, DataFileError) as exc:
        raise SystemExit(f'ray_metrics: error: {exc}')
    summary = ', '.join(f'{k} {result[k]:.4f}' for k in
                        ['RayIoU'] + [f'RayIoU@{t:g}' for t in THRESHOLDS] + ['mIoU'])
    print(f'{result["num_samples"]} samples: {summary}')
    if args.out:
        write_json_atomic(result, args.out)
    return result


if __name__ == '__main__':
    main()
