"""Benchmarks RayIoU evaluation: compiled ray casting vs the pure-PyTorch reference.

Prints samples per second on 200 x 200 x 16 grids with 8 origins (14,040 rays each), the
ratio of the two, and the projected time for the Occ3D-nuScenes val set (6019 samples).
"cold" casts prediction and ground truth; "warm" reuses cached ground-truth rays (e.g. a
second checkpoint evaluated in the same process). Each rate is the median of ``--repeat``
passes over the samples after one untimed pass, with the spread of the passes
((max - min) / median).

Usage: python tools/bench_rayiou.py [--samples 20] [--reference-samples 2] [--repeat 5]
    [--threads N]
"""
import argparse

import numpy as np
import torch

from evaluation import ray_metrics
from models.ops import backend
from tools.shared.op_benchmark import time_calls
from tools.shared.synthetic_scenes import make_scene

VAL_SAMPLES = 6019


def evaluation_pass(scenes, preds, impl, warm):
    """A closure that scores every prediction once: ground truth cast anew (an empty cache
    per pass), or taken from a cache filled beforehand when ``warm``."""
    filled = ray_metrics.GroundTruthRayCache()
    if warm:
        with backend.forced_impl(impl):
            for (gt, origins) in scenes:
                filled.get_or_cast(gt, origins)

    def run():
        cache = filled if warm else ray_metrics.GroundTruthRayCache()
        with backend.forced_impl(impl):
            for (gt, origins), pred in zip(scenes, preds):
                ray_metrics.rayiou_counts(*ray_metrics.cast_pred_and_gt(pred, gt, origins,
                                                                        cache=cache))
    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--samples', type=int, default=20)
    parser.add_argument('--reference-samples', type=int, default=2)
    parser.add_argument('--repeat', type=int, default=5, help='timed passes per rate')
    parser.add_argument('--threads', type=int, default=None, help='torch/OpenMP threads')
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if not backend.has_kernel('ray_cast', 'cpu'):
        raise SystemExit('bench_rayiou: models._C is not built; run `make build` first')
    rng = np.random.default_rng(0)
    scenes = [make_scene(rng) for _ in range(args.samples)]
    preds = [np.roll(gt, int(rng.integers(-3, 4)), axis=int(rng.integers(0, 2)))
             for gt, _ in scenes]

    print(f'RayIoU evaluation, 200x200x16 grids, 8 origins x 14040 rays, '
          f'{torch.get_num_threads()} threads, median of {args.repeat} passes after 1 '
          f'warm-up (spread: (max - min) / median)')
    cpu = torch.device('cpu')
    rates = {}
    for name, impl, n in (('compiled', 'cpu', args.samples),
                          ('reference', 'reference', args.reference_samples)):
        for warm in (False, True):
            timing = time_calls(evaluation_pass(scenes[:n], preds[:n], impl, warm), cpu,
                                args.repeat, warmup=1)
            rates[name, warm] = (n / timing.median, timing.spread)
    for warm in (False, True):
        label = 'warm (GT cached)' if warm else 'cold (GT + pred)'
        (compiled, c_spread), (reference, r_spread) = (rates['compiled', warm],
                                                       rates['reference', warm])
        print(f'{label:18s} compiled {compiled:8.2f} samples/s ({c_spread:4.0%}) | reference '
              f'{reference:6.3f} samples/s ({r_spread:4.0%}) | ratio '
              f'{compiled / reference:6.1f}x | val set ({VAL_SAMPLES}) '
              f'{VAL_SAMPLES / compiled / 60:5.1f} min compiled, '
              f'{VAL_SAMPLES / reference / 3600:5.1f} h reference')


if __name__ == '__main__':
    main()
