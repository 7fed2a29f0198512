"""The compiled ops' benchmark cases at the sizes of the paper's model (r50, 704 x 256 input,
Occ3D grid), shared by ``tools/benchmark_ops.py`` (timing) and ``environment/device_check.py``
(parity between devices).

- voxel pooling: B=1, N=6 cameras, D=88 depth bins (1-45 m, 0.5 m), H x W = 16 x 44
  (stride 16), C=64, into the 200 x 200 x 16 grid of 0.4 m voxels; frustum points from six
  surround cameras, so the load per voxel is realistic (dense near the car, sparse far away);
- multi-view sampling: B*G=4, Q=3200 queries, P=8 points, L=4 levels (strides 8-64:
  32x88 ... 4x11), V=6 cameras x 2 frames, C_g=32;
- ray casting: 8 origins x 14,040 LiDAR-like rays through a 200 x 200 x 16 synthetic scene
  (no backward).

``small=True`` gives a 100 x 100 x 8 pooling grid of 0.8 m voxels and a quarter of the
queries. Each case is ``(info, forward, forward_backward)``: a description and closures of
``impl`` (``'cpu'``, ``'cuda'`` or ``'reference'``) that return what they computed (the
forward output; the leaf gradients after forward + backward; ``forward_backward`` is None
for ops without a backward).
"""
import dataclasses
import math
import statistics
import time

import numpy as np
import torch

from core.occ3d import FREE_LABEL, GRID_MIN, VOXEL_SIZE
from evaluation import ray_metrics
from models.ops import multiview_sampling, ray_cast, voxel_pooling, voxel_pooling_prepare
from tools.shared.synthetic_scenes import make_scene


def _sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


# Untimed calls before the timed ones: the first call pays for allocations, lazy
# initialisation and cold caches, which moved one ratio from 4.4x to 0.5x.
WARMUP_RUNS = 2


@dataclasses.dataclass(frozen=True)
class Timing:
    """Wall times (seconds) of repeated calls: their median and their range."""
    median: float
    low: float
    high: float
    runs: int

    @property
    def spread(self):
        """(high - low) / median: 0.1 means the calls varied by 10 % of the median."""
        return (self.high - self.low) / self.median if self.median else 0.0


def time_calls(fn, device, repeat, warmup=WARMUP_RUNS):
    """Wall times of ``repeat`` calls of ``fn()`` after ``warmup`` untimed ones (CUDA work
    synchronised before each clock read).

    Returns:
        Timing
    """
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(max(1, repeat)):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return Timing(statistics.median(times), min(times), max(times), len(times))


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
    ranks = voxel_pooling_prepare(coords.to(device), GRID_MIN, voxel, grid_shape)
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
