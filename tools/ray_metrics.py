#!/usr/bin/env python
"""Evaluate saved occupancy predictions with RayIoU and mIoU (camera mask).

Example::

    python tools/ray_metrics.py --data-root data/nuscenes --pred-dir work_dirs/preds \\
        --ann-file nuscenes_infos_val_sweep.pkl --out work_dirs/preds/metrics.json

The folder's format and the scoring: ``evaluation.prediction_folder``.
"""
import argparse
import os

from core.atomic_file import write_json_atomic
from core.errors import DataFileError
from evaluation.prediction_folder import evaluate
from evaluation.ray_metrics import THRESHOLDS


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
