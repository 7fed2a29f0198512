"""Benchmarks GD-OCC's compiled ops against their pure-PyTorch references.

For each op, at the sizes of the paper's model (r50, 704 x 256 input, Occ3D grid), prints the
median time of the forward and of forward + backward for the compiled kernel and for the
reference, and their ratio: on the CPU always, and on the GPU too when one is present and the
extension has CUDA kernels.

- voxel pooling: B=1, N=6 cameras, D=88 depth bins (1-45 m, 0.5 m), H x W = 16 x 44
  (stride 16), C=64, into the 200 x 200 x 16 grid of 0.4 m voxels; frustum points from six
  surround cameras, so the load per voxel is realistic (dense near the car, sparse far away);
- multi-view sampling: B*G=4, Q=3200 queries, P=8 points, L=4 levels (strides 8-64:
  32x88 ... 4x11), V=6 cameras x 2 frames, C_g=32;
- ray casting: 8 origins x 14,040 LiDAR-like rays through a 200 x 200 x 16 synthetic scene
  (no backward).

Each case's closures return what they computed (the forward output; the leaf gradients after
forward + backward), so tools/device_check.py compares devices on the same cases.

Usage: python tools/benchmark_ops.py [--repeat 5] [--threads N] [--small] [--device cuda]
    [--json results.json]
(``--small``: a 100 x 100 x 8 grid of 0.8 m voxels and a quarter of the queries; ``--device``:
only that device; ``--json``: the rows also as a list of dicts).
"""
import argparse
import json
import math
import statistics
import time

import numpy as np
import torch

from models.ops import backend, multiview_sampling, ray_cast, voxel_pooling, voxel_pooling_prepare


def _sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def median_seconds(fn, device, repeat):
    """Median wall time of ``fn()`` over ``repeat`` runs, after one warm-up run."""
    fn()
    _sync(device)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def surround_frustum(cams=6, bins=88, height=16, width=44, image=(704, 256), fov_deg=70.0,
                     depth_range=(1.0, 45.0)):
    """Ego-frame coordinates [1, N, D, H, W, 3] of the frustum points of ``cams`` cameras
    1.6 m above the ground, evenly spaced in yaw, looking horizontally (metres)."""
    img_w, img_h = image
    focal = 0.5 * img_w / math.tan(math.radians(fov_deg) / 2)
    # Feature pixel centres in image pixels.
    u = (torch.arange(width, dtype=torch.float64) + 0.5) * img_w / width
    v = (torch.arange(height, dtype=torch.float64) + 0.5) * img_h / height
    vv, uu = torch.meshgrid(v, u, indexing='ij')
    # Camera frame (x right, y down, z forward) -> ego-like frame (x forward, y left, z up).
    rays = torch.stack([torch.ones_like(uu), -(uu - img_w / 2) / focal,
                        -(vv - img_h / 2) / focal], -1)
    step = (depth_range[1] - depth_range[0]) / bins
    depths = depth_range[0] + step * torch.arange(bins, dtype=torch.float64)
    coords = []
    for n in range(cams):
        yaw = 2 * math.pi * n / cams
        rot = torch.tensor([[math.cos(yaw), -math.sin(yaw), 0.0],
                            [math.sin(yaw), math.cos(yaw), 0.0], [0.0, 0.0, 1.0]],
                           dtype=torch.float64)
        origin = torch.tensor([0.0, 0.0, 1.6], dtype=torch.float64)
        points = depths.view(-1, 1, 1, 1) * (rays @ rot.T) + origin  # [D, H, W, 3]
        coords.append(points)
    return torch.stack(coords).unsqueeze(0)


def voxel_pooling_case(device, small):
    grid_shape, voxel = ((100, 100, 8), 0.8) if small else ((200, 200, 16), 0.4)
    coords = surround_frustum()
    ranks = voxel_pooling_prepare(coords.to(device), (-40.0, -40.0, -1.0), voxel, grid_shape)
    gen = torch.Generator().manual_seed(0)
    depth = torch.randn(1, 6, 88, 16, 44, generator=gen).softmax(2).to(device)
    context = torch.randn(1, 6, 16, 44, 64, generator=gen).to(device)
    grad = torch.randn(1, *grid_shape, 64, generator=gen).to(device)
    info = (f'{ranks.ranks_depth.numel()} of {depth.numel()} points in '
            f'{ranks.interval_starts.numel()} voxels, grid {grid_shape}')

    def forward(impl):
        with torch.no_grad():
            return voxel_pooling(depth, context, *ranks, grid_shape, impl=impl)

    leaves = (depth.clone().requires_grad_(), context.clone().requires_grad_())

    def forward_backward(impl):
        for leaf in leaves:
            leaf.grad = None
        voxel_pooling(*leaves, *ranks, grid_shape, impl=impl).backward(grad)
        return tuple(leaf.grad for leaf in leaves)

    return info, forward, forward_backward


def multiview_sampling_case(device, small):
    bg, views, channels, queries, points = 4, 12, 32, 800 if small else 3200, 8
    sizes = ((32, 88), (16, 44), (8, 22), (4, 11))
    gen = torch.Generator().manual_seed(0)
    features = [torch.randn(bg, views, h, w, channels, generator=gen).to(device)
                for h, w in sizes]
    pts = torch.rand(bg, queries, points, 2, generator=gen).to(device)
    view_index = torch.randint(views, (bg, queries, points), generator=gen).to(device)
    weights = torch.rand(bg, queries, points, len(sizes), generator=gen).to(device)
    grad = torch.randn(bg, queries, points, channels, generator=gen).to(device)
    info = f'BG={bg} Q={queries} P={points} L={len(sizes)} V={views} C={channels}'

    def forward(impl):
        with torch.no_grad():
            return multiview_sampling(features, pts, view_index, weights, impl=impl)

    leaves = [f.clone().requires_grad_() for f in features]
    leaf_pts, leaf_weights = pts.clone().requires_grad_(), weights.clone().requires_grad_()

    def forward_backward(impl):
        for leaf in (*leaves, leaf_pts, leaf_weights):
            leaf.grad = None
        multiview_sampling(leaves, leaf_pts, view_index, leaf_weights, impl=impl).backward(grad)
        return tuple(leaf.grad for leaf in (*leaves, leaf_pts, leaf_weights))

    return info, forward, forward_backward


def ray_cast_case(device, small):
    del small  # ray casting always runs on the Occ3D grid
    # Imported here: the loaders package needs the full stack (mmdet3d), the other ops don't.
    from core.occ3d import FREE_LABEL, GRID_MIN, VOXEL_SIZE
    from evaluation import ray_metrics
    from evaluation.synthetic_scenes import make_scene
    semantics, origins = make_scene(np.random.default_rng(0))
    occupied = torch.from_numpy(semantics != FREE_LABEL).to(device)
    rays = ray_metrics.LIDAR_RAYS
    ray_origins = torch.from_numpy(np.repeat(origins, len(rays), axis=0)).to(device)
    ray_dirs = torch.from_numpy(np.tile(rays, (len(origins), 1))).to(device)
    info = f'{len(origins)} origins x {len(rays)} rays, grid {tuple(occupied.shape)}'

    def forward(impl):
        return ray_cast(occupied, ray_origins, ray_dirs, GRID_MIN, VOXEL_SIZE, impl=impl)

    return info, forward, None


CASES = (('voxel pooling', 'voxel_pooling_forward', voxel_pooling_case),
         ('multi-view sampling', 'multiview_sampling_forward', multiview_sampling_case),
         ('ray casting', 'ray_cast', ray_cast_case))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--repeat', type=int, default=5, help='timed runs per measurement')
    parser.add_argument('--reference-repeat', type=int, default=3)
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
    print(f'{"op":<22}{"device":<7}{"pass":<10}{"compiled ms":>12}{"reference ms":>14}'
          f'{"ratio":>8}')
    for name, op, make_case in CASES:
        for device in devices:
            compiled = device.type
            if not backend.has_kernel(op, compiled):
                print(f'{name:<22}{device.type:<7}no compiled {compiled} kernel: skipped')
                continue
            try:
                info, forward, forward_backward = make_case(device, args.small)
            except ImportError as err:
                print(f'{name:<22}{device.type:<7}skipped: {err}')
                continue
            passes = [('fwd', forward)] + ([('fwd+bwd', forward_backward)]
                                           if forward_backward else [])
            for label, fn in passes:
                fast = median_seconds(lambda: fn(compiled), device, args.repeat)
                slow = median_seconds(lambda: fn('reference'), device, args.reference_repeat)
                print(f'{name:<22}{device.type:<7}{label:<10}{fast * 1e3:>12.1f}'
                      f'{slow * 1e3:>14.1f}{slow / fast:>7.1f}x')
                rows.append(dict(op=name, device=device.type, passes=label,
                                 compiled_ms=fast * 1e3, reference_ms=slow * 1e3,
                                 speedup=slow / fast, case=info,
                                 cpu_threads=torch.get_num_threads()))
            print(f'{"":<22}({info})')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(rows, f, indent=1)


if __name__ == '__main__':
    main()
