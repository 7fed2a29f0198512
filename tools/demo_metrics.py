"""Scores simple predictions of synthetic Occ3D-like scenes with RayIoU and mIoU.

A first look at the metrics before any data or model exists: the ground truth itself, the
ground truth displaced by 0.4 m and 1.2 m, a prediction that ignores every object (what an
image-blind model could guess: the static layout only), one with the wrong class for
vehicles, and an empty prediction.

Usage: python tools/demo_metrics.py [--scenes 4] [--seed 0]
"""
import argparse

import numpy as np

from evaluation import Metric_mIoU, main_rayiou
from tools.shared.synthetic_scenes import CLASS, FREE, make_scene

STATIC = [CLASS[n] for n in ('road', 'sidewalk', 'terrain', 'manmade', 'vegetation')]


def predictions(gt):
    no_objects = gt.copy()
    no_objects[~np.isin(gt, STATIC + [FREE])] = FREE
    wrong_class = gt.copy()
    wrong_class[gt == CLASS['car']] = CLASS['truck']
    return {
        'ground truth': gt,
        'shifted 0.4 m': np.roll(gt, 1, axis=0),
        'shifted 1.2 m': np.roll(gt, 3, axis=0),
        'static layout only': no_objects,
        'cars as trucks': wrong_class,
        'all free': np.full_like(gt, FREE),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--scenes', type=int, default=4)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    scenes = [make_scene(rng) for _ in range(args.scenes)]
    gts, origins = [s[0] for s in scenes], [s[1] for s in scenes]
    all_preds = [predictions(gt) for gt in gts]
    rows = []
    for name in all_preds[0]:
        preds = [p[name] for p in all_preds]
        print(f'\n=== {name} ===')
        ray = main_rayiou(preds, gts, origins, verbose=(name == 'shifted 0.4 m'))
        miou = Metric_mIoU(use_image_mask=False)
        for pred, gt in zip(preds, gts):
            miou.add_batch(pred, gt)
        rows.append((name, ray, miou.count_miou(verbose=False)))
    print(f'\n{"prediction":22s}{"RayIoU":>9s}{"@1":>8s}{"@2":>8s}{"@4":>8s}{"mIoU":>8s}')
    for name, ray, miou in rows:
        print(f'{name:22s}{ray["RayIoU"]:9.3f}{ray["RayIoU@1"]:8.3f}{ray["RayIoU@2"]:8.3f}'
              f'{ray["RayIoU@4"]:8.3f}{miou:8.2f}')


if __name__ == '__main__':
    main()
