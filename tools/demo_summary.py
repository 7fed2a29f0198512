#!/usr/bin/env python
"""Joins the demo's model and image-blind baseline metrics into one JSON and prints them.

    python tools/demo_summary.py --model val_metrics.json --baseline blind_metrics.json \\
        --out work_dirs/demo/metrics.json

Both inputs are the JSON files the occupancy metric writes (``val.py --out`` and
``tools/ray_metrics.py --out``): ``RayIoU``, ``RayIoU@1``, ``RayIoU@2``, ``RayIoU@4``, ``mIoU``.
The output holds those keys for the model plus ``baseline_RayIoU`` and ``baseline_mIoU``,
and ``per_class``: the model's RayIoU per class averaged over the 1 / 2 / 4 m thresholds
(from the metric's ``per_class_RayIoU``; null for a class absent from prediction and ground
truth).
"""
import argparse
import json
import math
import sys

from core.atomic_file import write_json_atomic

MODEL_KEYS = ('RayIoU', 'RayIoU@1', 'RayIoU@2', 'RayIoU@4', 'mIoU')
BASELINE_KEYS = ('RayIoU', 'mIoU')


def _read(path, keys):
    try:
        with open(path) as f:
            metrics = json.load(f)
    except (OSError, ValueError) as exc:
        sys.exit(f'demo_summary: error: cannot read {path}: {exc}')
    missing = [k for k in keys if k not in metrics]
    if missing:
        sys.exit(f'demo_summary: error: {path} lacks {missing}')
    return metrics


def _mean_over_thresholds(values):
    """Mean of the finite per-threshold IoUs, or None when there is none (JSON null)."""
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return sum(finite) / len(finite) if finite else None


def summarize(model_path, baseline_path, out_path):
    """Writes and returns {RayIoU, RayIoU@1, RayIoU@2, RayIoU@4, mIoU, baseline_RayIoU,
    baseline_mIoU} (floats; RayIoU in [0, 1], mIoU in percent) and ``per_class`` (class
    name -> RayIoU averaged over the thresholds, or None)."""
    model = _read(model_path, MODEL_KEYS + ('per_class_RayIoU',))
    baseline = _read(baseline_path, BASELINE_KEYS)
    summary = {k: float(model[k]) for k in MODEL_KEYS}
    summary.update({f'baseline_{k}': float(baseline[k]) for k in BASELINE_KEYS})
    summary['per_class'] = {name: _mean_over_thresholds(values)
                            for name, values in model['per_class_RayIoU'].items()}
    write_json_atomic(summary, out_path)
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--model', required=True, help='metrics JSON of the trained model')
    parser.add_argument('--baseline', required=True, help='metrics JSON of the blind baseline')
    parser.add_argument('--out', required=True, help='combined metrics JSON to write')
    args = parser.parse_args(argv)
    s = summarize(args.model, args.baseline, args.out)
    ratio = s['RayIoU'] / s['baseline_RayIoU'] if s['baseline_RayIoU'] > 0 else float('inf')
    print(f"{'':24s}{'RayIoU':>8s}{'@1':>8s}{'@2':>8s}{'@4':>8s}{'mIoU':>8s}")
    print(f"{'GD-OCC (toy config)':24s}{s['RayIoU']:8.3f}{s['RayIoU@1']:8.3f}"
          f"{s['RayIoU@2']:8.3f}{s['RayIoU@4']:8.3f}{s['mIoU']:8.2f}")
    print(f"{'image-blind baseline':24s}{s['baseline_RayIoU']:8.3f}{'':24s}"
          f"{s['baseline_mIoU']:8.2f}")
    classes = ', '.join(f'{name} {value:.3f}' for name, value in s['per_class'].items()
                        if value is not None)
    if classes:
        print(f'per class: {classes}')
    print(f'RayIoU {ratio:.1f}x the baseline; written to {args.out}')


if __name__ == '__main__':
    main()
