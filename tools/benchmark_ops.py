"""Benchmarks GD-OCC's compiled ops against their pure-PyTorch references.

For each op of ``tools.shared.op_benchmark`` (the paper model's sizes), prints the median time of
the forward and of forward + backward for the compiled kernel and for the reference (after
``--warmup`` untimed calls), the spread of the timed calls ((max - min) / median) and the
ratio of the medians: on the CPU always, and on the GPU too when one is present and the
extension has CUDA kernels.

Usage: python tools/benchmark_ops.py [--repeat 7] [--reference-repeat 5] [--warmup 2]
    [--threads N] [--small] [--device cuda] [--json results.json]
(``--small``: a 100 x 100 x 8 grid of 0.8 m voxels and a quarter of the queries; ``--device``:
only that device; ``--json``: the rows also as a list of dicts).
"""
import argparse
import json

import torch

from models.ops import backend
from tools.shared.op_benchmark import CASES, WARMUP_RUNS, time_calls


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--repeat', type=int, default=7, help='timed runs per measurement')
    parser.add_argument('--reference-repeat', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=WARMUP_RUNS,
                        help='untimed runs before each measurement')
    parser.add_argument('--threads', type=int, default=None, help='torch/OpenMP threads')
    parser.add_argument('--small', action='store_true',
                        help='100 x 100 x 8 pooling grid and 800 sampling queries')
    parser.add_argument('--device', choices=('cpu', 'cuda'), default=None,
                        help='benchmark this device only (default: the CPU and any GPU)')
    parser.add_argument('--json', metavar='PATH', help='also write the rows as JSON')
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = [torch.device('cpu')]
    if torch.cuda.is_available():
        devices.append(torch.device('cuda'))
    if args.device:
        if args.device == 'cuda' and not torch.cuda.is_available():
            raise SystemExit('benchmark_ops: --device cuda, but torch sees no GPU')
        devices = [torch.device(args.device)]
    rows = []
    print(f'torch {torch.__version__}, {torch.get_num_threads()} CPU threads'
          + (f', GPU {torch.cuda.get_device_name()}' if len(devices) > 1 else ''))
    print(f'{"op":<22}{"device":<7}{"pass":<10}{"compiled ms":>12}{"spread":>8}'
          f'{"reference ms":>14}{"spread":>8}{"ratio":>8}   (medians of {args.repeat} / '
          f'{args.reference_repeat} runs after {args.warmup} warm-up)')
    for name, op, make_case in CASES:
        for device in devices:
            compiled = device.type
            if not backend.has_kernel(op, compiled):
                print(f'{name:<22}{device.type:<7}no compiled {compiled} kernel: skipped')
                continue
            info, forward, forward_backward = make_case(device, args.small)
            passes = [('fwd', forward)] + ([('fwd+bwd', forward_backward)]
                                           if forward_backward else [])
            for label, fn in passes:
                fast = time_calls(lambda: fn(compiled), device, args.repeat, args.warmup)
                slow = time_calls(lambda: fn('reference'), device, args.reference_repeat,
                                  args.warmup)
                print(f'{name:<22}{device.type:<7}{label:<10}{fast.median * 1e3:>12.1f}'
                      f'{fast.spread:>8.0%}{slow.median * 1e3:>14.1f}{slow.spread:>8.0%}'
                      f'{slow.median / fast.median:>7.1f}x')
                rows.append(dict(op=name, device=device.type, passes=label,
                                 compiled_ms=fast.median * 1e3, reference_ms=slow.median * 1e3,
                                 compiled_range_ms=[fast.low * 1e3, fast.high * 1e3],
                                 reference_range_ms=[slow.low * 1e3, slow.high * 1e3],
                                 runs=[fast.runs, slow.runs], warmup=args.warmup,
                                 speedup=slow.median / fast.median, case=info,
                                 cpu_threads=torch.get_num_threads()))
            print(f'{"":<22}({info})')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(rows, f, indent=1)


if __name__ == '__main__':
    main()
