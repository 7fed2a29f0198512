"""Where the sparse voxel proposal loses the voxels RayIoU measures: the diagnostic targets,
pruning recall per decoder stage and height, and the labels an oracle head would give the kept
voxels (``tools/diagnose_proposal.py`` runs them over a checkpoint).

The *targets* are occupied voxels with a free face neighbour (what a ray can hit first)
within ``dilation`` voxels (Chebyshev) of Occ3D's camera mask (the toy mask, cast with a
sparse set of rays, leaves gaps of a few voxels). *Above the ground* means above the highest
ground-class voxel of the column. Grids are indexed [x, y, z] on the Occ3D grid.
"""
import numpy as np
import torch
import torch.nn.functional as F

from core.geometry import dense_coords
from core.occ3d import OCC3D_CLASS_NAMES

GROUND_CLASS_NAMES = ('driveable_surface', 'other_flat', 'sidewalk', 'terrain')
GROUND_CLASSES = tuple(OCC3D_CLASS_NAMES.index(name) for name in GROUND_CLASS_NAMES)
CHILDREN = np.array([[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)])


def diagnostic_targets(gt, mask_camera, free_label, dilation):
    """bool [X, Y, Z]: exposed occupied voxels within ``dilation`` voxels (Chebyshev) of the
    camera mask (the module docstring); ``gt`` uint8, ``mask_camera`` bool [X, Y, Z]."""
    occupied = torch.from_numpy(gt != free_label)
    free = F.pad((~occupied).float(), (1, 1, 1, 1, 1, 1), value=1.0) > 0
    exposed = (free[:-2, 1:-1, 1:-1] | free[2:, 1:-1, 1:-1] | free[1:-1, :-2, 1:-1]
               | free[1:-1, 2:, 1:-1] | free[1:-1, 1:-1, :-2] | free[1:-1, 1:-1, 2:])
    observed = torch.from_numpy(np.asarray(mask_camera, bool)).float()[None, None]
    if dilation:
        observed = F.max_pool3d(observed, 2 * dilation + 1, stride=1, padding=dilation)
    return (occupied & exposed & (observed[0, 0] > 0)).numpy()


def above_ground(gt):
    """bool [X, Y, Z]: voxels above the highest ground-class voxel of their column
    (columns without ground: every voxel)."""
    ground = np.isin(gt, GROUND_CLASSES)
    heights = np.arange(gt.shape[2])
    top = np.where(ground, heights, -1).max(2)
    return heights[None, None] > top[..., None]


def stage_recall(stages, coarse_shape, targets):
    """Pruning recall of the targets, per decoder stage and height index.

    Args:
        stages (list of dict): the decoder's ``stages`` for one sample (batch of 1), each
            with ``coords`` int64 [1, k_s, 3] at resolution s + 1 and ``scale``.
        coarse_shape (tuple of 3 ints): the grid stage 0 runs on (all its voxels kept).
        targets (ndarray): bool [X, Y, Z] full grid.

    Returns:
        list of int64 arrays [3, Z_s]: per stage, rows (targets, candidates, kept).
    """
    target = torch.from_numpy(targets).float()[None, None]
    parents = dense_coords(coarse_shape).numpy()
    stats = []
    for stage in stages:
        factor = stage['scale']
        positive = (F.max_pool3d(target, factor) if factor > 1 else target)[0, 0].numpy() > 0
        candidates = (parents[:, None] * 2 + CHILDREN).reshape(-1, 3)
        kept = stage['coords'][0].numpy()
        height = positive.shape[2]

        def per_height(coords):
            hit = positive[tuple(coords.T)]
            return np.bincount(coords[hit, 2], minlength=height)

        stats.append(np.stack([positive.sum((0, 1)), per_height(candidates),
                               per_height(kept)]).astype(np.int64))
        parents = kept
    return stats


def oracle_on_kept(coords, gt, free_label):
    """uint8 [X, Y, Z]: the ground-truth label on the kept voxels (coords int64 [K, 3]),
    free elsewhere."""
    pred = np.full(gt.shape, free_label, dtype=np.uint8)
    index = tuple(coords.T)
    pred[index] = gt[index]
    return pred


def class_counts(kept, targets, gt, pred, free_label):
    """Where the kept voxels go, per ground-truth class.

    Args:
        kept (ndarray): int64 [K, 3], the kept full-grid voxels.
        targets (ndarray): bool [X, Y, Z], the targets (:func:`diagnostic_targets`).
        gt, pred (ndarray): uint8 [X, Y, Z], ground-truth and predicted labels.
        free_label (int): the free class; labels are 0..free_label.

    Returns:
        ndarray: int64 [4, free_label + 1], rows (targets, kept targets, kept targets
        labelled right, kept voxels that are no target), columns the ground-truth class.
    """
    is_kept = np.zeros(gt.shape, dtype=bool)
    is_kept[tuple(kept.T)] = True

    def count(mask):
        return np.bincount(gt[mask], minlength=free_label + 1)

    return np.stack([count(targets), count(targets & is_kept),
                     count(targets & is_kept & (pred == gt)), count(is_kept & ~targets)])
