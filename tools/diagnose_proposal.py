#!/usr/bin/env python
"""Where a GD-OCC checkpoint loses the voxels that matter: recall of the sparse voxel
decoder's pruning per stage and height, and the RayIoU its kept voxels would allow.

The *targets* are the voxels RayIoU measures: occupied voxels with a free face neighbour
(what a ray can hit first) within ``--dilation`` voxels (Chebyshev) of Occ3D's camera mask
(the toy mask, cast with a sparse set of rays, leaves gaps of a few voxels). *Above the
ground* means above the highest ground-class voxel (driveable surface, other flat, sidewalk,
terrain) of the target's column; grids are indexed [x, y, z] on the Occ3D grid. For N
samples of the config's test split it prints

- per decoder stage and height index: the targets at that stage's resolution (a coarse
  voxel counting when any voxel it covers does), how many of them were among the stage's
  candidates (children of the previous stage's kept voxels) and how many were kept;
- the model's RayIoU next to the RayIoU of an *oracle on the kept voxels* (every kept voxel
  takes its ground-truth label, every other voxel is free): the best any head could do
  with this proposal, so a low oracle points at the proposal and a gap at the head; and
  the RayIoU of the targets themselves (their ground-truth labels alone), the best a
  proposal that learnt its targets perfectly could allow;
- the head's two decisions apart: the RayIoU of the model's occupied voxels with their
  ground-truth labels (perfect classes, the model's free / occupied decision) and of the
  head's best class on every kept voxel that the ground truth holds occupied (the head's
  classes, a perfect free / occupied decision);
- per class, the query most confident in that class (its mean class probability) and the
  median mask probability of that query on the class's kept voxels: a query whose mask
  has collapsed (near 0 on its own voxels) can never label them, whatever its class says;
- per ground-truth class: its targets at the full grid, how many the proposal kept and
  how many of those the head labelled right, and what the rest of the kept voxels are
  (free space, occupied voxels that are no target);
- the fraction of the above-ground targets kept at the full grid;
- per band of horizontal distance from the ego: the targets, how many were kept, and the
  median geometric prior (LSS depth mass) of the kept and of the dropped targets, which
  shows how the prior's ranking depends on distance.

Example::

    python tools/diagnose_proposal.py --config configs/toy_gdocc.py \\
        --weights work_dirs/demo/train/epoch_12.pth --num 10
"""
import argparse

import numpy as np
import torch
import torch.nn.functional as F

from core.geometry import dense_coords
from core.occ3d import OCC3D_CLASS_NAMES
from engine.runtime import allow_mmengine_checkpoints, fail, load_config, require_checkpoint

GROUND_CLASS_NAMES = ('driveable_surface', 'other_flat', 'sidewalk', 'terrain')
GROUND_CLASSES = tuple(OCC3D_CLASS_NAMES.index(name) for name in GROUND_CLASS_NAMES)
CHILDREN = np.array([[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)])
DISTANCE_BANDS = (0.0, 10.0, 20.0, 30.0, 40.0, float('inf'))  # metres, horizontal


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


def split_decisions(kept, gt, pred, best_class, free_label):
    """The head's free / occupied decision and its classes, each with the other made perfect.

    Args:
        kept (ndarray): int64 [K, 3], the kept full-grid voxels.
        gt, pred (ndarray): uint8 [X, Y, Z], ground-truth and predicted labels.
        best_class (ndarray): int [K], the head's best class of each kept voxel, free or not.
        free_label (int): the free class.

    Returns:
        tuple of ndarray: uint8 [X, Y, Z] ``right_classes`` (the prediction, its occupied
        voxels relabelled with their ground truth where that is occupied) and
        ``right_occupancy`` (``best_class`` on the kept voxels the ground truth holds
        occupied, free elsewhere).
    """
    right_classes = np.where((pred != free_label) & (gt != free_label), gt, pred)
    right_occupancy = np.full(gt.shape, free_label, dtype=np.uint8)
    index = tuple(kept.T)
    right_occupancy[index] = np.where(gt[index] != free_label, best_class, free_label)
    return right_classes.astype(np.uint8), right_occupancy


def query_masks(class_prob, mask_prob, kept_labels, num_classes):
    """Per class, the query most confident in it and its mask on the class's kept voxels.

    Args:
        class_prob (ndarray): float [N, C] the head's last class probabilities.
        mask_prob (ndarray): float [N, K] its last mask probabilities on the kept voxels.
        kept_labels (ndarray): int [K] ground-truth labels of the kept voxels.
        num_classes (int): C.

    Returns:
        list of (float, ndarray): per class, the best query's class probability and its
        mask probabilities float [n_c] on the n_c kept voxels of that class.
    """
    best = class_prob.argmax(0)
    return [(float(class_prob[best[c], c]), mask_prob[best[c], kept_labels == c])
            for c in range(num_classes)]


def class_counts(is_kept, targets, gt, pred, free_label):
    """Where the kept voxels go, per ground-truth class.

    Args:
        is_kept (ndarray): bool [X, Y, Z], the kept full-grid voxels.
        targets (ndarray): bool [X, Y, Z], the targets (:func:`diagnostic_targets`).
        gt, pred (ndarray): uint8 [X, Y, Z], ground-truth and predicted labels.
        free_label (int): the free class; labels are 0..free_label.

    Returns:
        ndarray: int64 [4, free_label + 1], rows (targets, kept targets, kept targets
        labelled right, kept voxels that are no target), columns the ground-truth class.
    """
    def count(mask):
        return np.bincount(gt[mask], minlength=free_label + 1)

    return np.stack([count(targets), count(targets & is_kept),
                     count(targets & is_kept & (pred == gt)), count(is_kept & ~targets)])


def distance_bands(targets, kept_mask, prior, grid_min, voxel_size):
    """Per band of :data:`DISTANCE_BANDS`: targets, kept targets and the geometric prior of
    the targets.

    Args:
        targets, kept_mask (ndarray): bool [X, Y, Z] full grid.
        prior (ndarray or None): float [X, Y, Z] LSS depth mass on the full grid.
        grid_min (sequence of 3 floats), voxel_size (float): the full grid, ego frame.

    Returns:
        list of dict per band: ``targets``, ``kept`` (ints), ``prior_kept`` and
        ``prior_dropped`` (float arrays of the targets' prior values).
    """
    index = np.argwhere(targets)
    centres = np.asarray(grid_min[:2]) + voxel_size * (index[:, :2] + 0.5)
    distance = np.hypot(centres[:, 0], centres[:, 1])
    kept = kept_mask[tuple(index.T)]
    mass = np.full(len(index), np.nan) if prior is None else prior[tuple(index.T)]
    bands = []
    for low, high in zip(DISTANCE_BANDS[:-1], DISTANCE_BANDS[1:]):
        inside = (distance >= low) & (distance < high)
        bands.append(dict(targets=int(inside.sum()), kept=int((inside & kept).sum()),
                          prior_kept=mass[inside & kept], prior_dropped=mass[inside & ~kept]))
    return bands


def best_class_of_kept(head, preds, coords):
    """int [K]: the head's label of each kept voxel of the first sample with no free
    threshold (its best class, however weak the score)."""
    threshold, head.free_threshold = head.free_threshold, float('-inf')
    try:
        sem = head.predict(preds, coords)[0]['pred_occ_sem']
    finally:
        head.free_threshold = threshold
    return sem[tuple(coords[0].T)].numpy()


def diagnose(cfg, weights, num_samples, dilation=2, progress=True):
    """Runs the model on ``num_samples`` samples of ``cfg.test_dataloader`` (evenly spaced).

    Returns:
        dict: ``stages`` (list per stage of int64 [3, Z_s]: targets, candidates, kept,
        summed over the samples), ``classes`` (int64 [4, C + 1] of :func:`class_counts`,
        summed), ``above_ground`` (int64 [2]: above-ground targets, of them kept at the full
        grid), ``bands`` (:func:`distance_bands`, concatenated over the samples),
        ``queries`` (:func:`query_masks`, class probabilities averaged and masks concatenated
        over the samples), ``RayIoU``, ``oracle_RayIoU``, ``targets_RayIoU``,
        ``right_classes_RayIoU`` and ``right_occupancy_RayIoU`` (:func:`split_decisions`;
        fractions).
    """
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint
    from tqdm import tqdm

    from mmdet3d.registry import DATASETS, MODELS

    from evaluation.ray_metrics import main_rayiou

    init_default_scope('mmdet3d')
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    model = MODELS.build(cfg.model)
    load_checkpoint(model, weights, map_location='cpu', logger='silent')
    model.eval()
    free_label = model.occ_head.free_label
    totals, classes, above, bands = None, 0, np.zeros(2, dtype=np.int64), None
    preds, oracles, ceilings, gts, origins = [], [], [], [], []
    splits, queries = ([], []), None
    indices = np.linspace(0, len(dataset) - 1, min(num_samples, len(dataset))).round()
    for index in tqdm(indices.astype(int), desc='samples', disable=not progress):
        with torch.no_grad():
            data = model.data_preprocessor(pseudo_collate([dataset[int(index)]]), False)
            out = model.extract_feat(data['inputs'], data['data_samples'])
            coords = out['decoder']['coords']
            pred = model.occ_head.predict(out['preds'], coords)[0]
            best_class = best_class_of_kept(model.occ_head, out['preds'], coords)
        sample = data['data_samples'][0]
        gt = np.asarray(sample.gt_occ_sem)
        targets = diagnostic_targets(gt, sample.mask_camera, free_label, dilation)
        stats = stage_recall(out['decoder']['stages'], model.decoder.coarse_shape, targets)
        totals = stats if totals is None else [t + s for t, s in zip(totals, stats)]
        kept = coords[0].numpy()
        is_kept = np.zeros(gt.shape, dtype=bool)
        is_kept[tuple(kept.T)] = True
        preds.append(pred['pred_occ_sem'].numpy())
        classes = classes + class_counts(is_kept, targets, gt, preds[-1], free_label)
        prior = None if out['prior'] is None else out['prior'][0, 0].numpy()
        new = distance_bands(targets, is_kept, prior, model.decoder.grid_min,
                             model.decoder.voxel_size)
        bands = new if bands is None else [
            dict(targets=a['targets'] + b['targets'], kept=a['kept'] + b['kept'],
                 prior_kept=np.concatenate([a['prior_kept'], b['prior_kept']]),
                 prior_dropped=np.concatenate([a['prior_dropped'], b['prior_dropped']]))
            for a, b in zip(bands, new)]
        raised = targets & above_ground(gt)
        above += (int(raised.sum()), int((raised & is_kept).sum()))
        oracles.append(oracle_on_kept(kept, gt, free_label))
        right_classes, right_occupancy = split_decisions(kept, gt, preds[-1], best_class,
                                                         free_label)
        splits[0].append(right_classes)
        splits[1].append(right_occupancy)
        per_query = query_masks(out['preds']['cls_logits'][-1][0].float().sigmoid().numpy(),
                                out['preds']['mask_logits'][-1][0].float().sigmoid().numpy(),
                                gt[tuple(kept.T)], free_label)
        queries = per_query if queries is None else [
            (a[0] + b[0], np.concatenate([a[1], b[1]])) for a, b in zip(queries, per_query)]
        ceilings.append(np.where(targets, gt, free_label).astype(np.uint8))
        gts.append(gt)
        origins.append(np.asarray(sample.ray_origins))
    rayiou = lambda grids: main_rayiou(grids, gts, origins, verbose=False)['RayIoU']  # noqa: E731
    return dict(stages=totals, classes=classes, above_ground=above, bands=bands,
                queries=[(prob / len(indices), masks) for prob, masks in queries],
                right_classes_RayIoU=rayiou(splits[0]),
                right_occupancy_RayIoU=rayiou(splits[1]),
                RayIoU=main_rayiou(preds, gts, origins, verbose=False)['RayIoU'],
                oracle_RayIoU=main_rayiou(oracles, gts, origins, verbose=False)['RayIoU'],
                targets_RayIoU=main_rayiou(ceilings, gts, origins, verbose=False)['RayIoU'])


def report(result):
    """The printed tables of :func:`diagnose`'s result."""
    lines = []
    for s, (positives, candidates, kept) in enumerate(result['stages']):
        lines.append(f'stage {s} (height index 0..{len(positives) - 1}): targets / '
                     f'among candidates / kept, recall {kept.sum() / max(positives.sum(), 1):.2f}')
        for name, row in (('targets', positives), ('candidates', candidates), ('kept', kept)):
            lines.append(f'  {name:>10s} ' + ' '.join(f'{v:6d}' for v in row))
    lines.append('full grid, per ground-truth class: targets / kept / kept and labelled '
                 'right / kept but no target')
    for name, row in zip(OCC3D_CLASS_NAMES, result['classes'].T):
        if row.any():
            lines.append(f'  {name:>20s} ' + ' '.join(f'{v:7d}' for v in row))
    total, kept = result['above_ground']
    lines.append(f'above-ground targets kept at the full grid: {kept} / {total} '
                 f'({kept / max(total, 1):.1%})')
    lines.append('horizontal distance from the ego: targets / kept / median prior mass of the '
                 'kept and of the dropped targets')
    for low, high, band in zip(DISTANCE_BANDS[:-1], DISTANCE_BANDS[1:], result['bands']):
        median = lambda v: f'{np.median(v):9.3g}' if len(v) else '        -'  # noqa: E731
        lines.append(f'  {low:4.0f}-{high:<4.0f} m {band["targets"]:7d} {band["kept"]:7d} '
                     f'({band["kept"] / max(band["targets"], 1):5.1%}) '
                     f'{median(band["prior_kept"])} {median(band["prior_dropped"])}')
    lines.append('per class: mean class probability of its most confident query / median '
                 'mask probability of that query on the kept voxels of the class (voxels)')
    for name, (prob, masks) in zip(OCC3D_CLASS_NAMES, result['queries']):
        if len(masks):
            lines.append(f'  {name:>20s} {prob:6.3f} {np.median(masks):8.4f} ({len(masks)})')
    lines.append(f"the head's classes with a perfect free / occupied decision "
                 f"{result['right_occupancy_RayIoU']:.4f}   its free / occupied decision with "
                 f"perfect classes {result['right_classes_RayIoU']:.4f}")
    lines.append(f"RayIoU {result['RayIoU']:.4f}   oracle labels on the kept voxels "
                 f"{result['oracle_RayIoU']:.4f}   on the targets {result['targets_RayIoU']:.4f}")
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--config', required=True)
    parser.add_argument('--weights', required=True, help='checkpoint (.pth)')
    parser.add_argument('--num', type=int, default=10, help='samples of the test split')
    parser.add_argument('--dilation', type=int, default=2,
                        help='targets lie within this many voxels of the camera mask')
    parser.add_argument('--no-progress', action='store_true')
    args = parser.parse_args(argv)
    if args.num < 1:
        fail(f'--num must be >= 1, got {args.num}')
    allow_mmengine_checkpoints()
    cfg = load_config(args.config)
    require_checkpoint(args.weights)
    result = diagnose(cfg, args.weights, args.num, args.dilation,
                      progress=not args.no_progress)
    print(report(result))
    return result


if __name__ == '__main__':
    main()
