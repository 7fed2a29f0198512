#!/usr/bin/env python
"""Where a GD-OCC checkpoint loses the voxels that matter: proposal recall per level and
height, and the RayIoU its kept voxels would allow.

For N samples of the config's test split it prints

- per proposal level and height index: the proposal's targets (``proposal.targets`` of the
  occupied voxels and the camera mask, a coarse voxel counting when any voxel it covers
  does), how many of them were among the level's candidates (children of the previous
  level's kept voxels) and how many were kept;
- the model's RayIoU next to the RayIoU of an *oracle on the kept voxels* (every kept voxel
  takes its ground-truth label, every other voxel is free): the best any head could do
  with this proposal, so a low oracle points at the proposal and a gap at the head; and
  the RayIoU of the targets themselves (their ground-truth labels alone), the best a
  proposal that learnt its targets perfectly could allow;
- per ground-truth class: its targets at the full grid, how many the proposal kept and
  how many of those the head labelled right, and what the rest of the kept voxels are
  (free space, occupied voxels that are no target).

Example::

    python tools/diagnose_proposal.py --config configs/toy_gdocc.py \\
        --weights work_dirs/demo/train/epoch_20.pth --num 10
"""
import argparse
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from models.runtime import (allow_mmengine_checkpoints, fail, load_config,  # noqa: E402
                            require_checkpoint)


def level_recall(levels, topk, observed):
    """Proposal recall of the observed occupied voxels, per level and height index.

    Args:
        levels (list of dict): the proposal's ``levels`` for one sample (batch of 1):
            ``coords`` int64 [1, M_l, 3] and ``logits`` float [1, M_l].
        topk (sequence of ints): the k kept per level.
        observed (Tensor): bool [X, Y, Z] full grid, the proposal's targets.

    Returns:
        list of int64 arrays [3, Z_l]: per level, rows (positives, candidates, kept).
    """
    num_levels = len(levels)
    target = observed.float()[None, None]
    stats = []
    for l, level in enumerate(levels):
        factor = 2 ** (num_levels - 1 - l)
        positive = (F.max_pool3d(target, factor) if factor > 1 else target)[0, 0] > 0
        coords = level['coords'][0]
        hit = positive[coords[:, 0], coords[:, 1], coords[:, 2]]
        kept = torch.zeros_like(hit)
        kept[level['logits'][0].topk(topk[l]).indices] = True
        height = positive.shape[2]
        stats.append(np.stack([
            positive.sum((0, 1)).numpy(),
            np.bincount(coords[hit, 2].numpy(), minlength=height),
            np.bincount(coords[hit & kept, 2].numpy(), minlength=height)]).astype(np.int64))
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
        kept (ndarray): int64 [K, 3], the last level's kept voxels (full-grid indices).
        targets (ndarray): bool [X, Y, Z], the proposal's targets.
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


def diagnose(cfg, weights, num_samples, progress=True):
    """Runs the model on ``num_samples`` samples of ``cfg.test_dataloader`` (evenly spaced).

    Returns:
        dict: ``levels`` (list per level of int64 [3, Z_l]: targets, candidates, kept,
        summed over the samples), ``classes`` (int64 [4, C + 1] of :func:`class_counts`,
        summed), ``RayIoU``, ``oracle_RayIoU`` and ``targets_RayIoU`` (fractions).
    """
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint
    from tqdm import tqdm

    from loaders.ray_metrics import main_rayiou
    from mmdet3d.registry import DATASETS, MODELS

    init_default_scope('mmdet3d')
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    model = MODELS.build(cfg.model)
    load_checkpoint(model, weights, map_location='cpu', logger='silent')
    model.eval()
    free_label = model.occ_head.free_label
    topk = model.proposal.topk_test
    totals, classes, preds, oracles, ceilings, gts, origins = None, 0, [], [], [], [], []
    indices = np.linspace(0, len(dataset) - 1, min(num_samples, len(dataset))).round()
    for index in tqdm(indices.astype(int), desc='samples', disable=not progress):
        with torch.no_grad():
            data = model.data_preprocessor(pseudo_collate([dataset[int(index)]]), False)
            out = model.extract_feat(data['inputs'], data['data_samples'])
            coords = out['proposal']['coords']
            pred = model.occ_head.predict(model.occ_head(coords, out['feats']), coords)[0]
        sample = data['data_samples'][0]
        gt = np.asarray(sample.gt_occ_sem)
        region = model.proposal.observed_region(
            torch.from_numpy(np.asarray(sample.mask_camera, bool))[None])
        targets = model.proposal.targets(torch.from_numpy(gt != free_label)[None], region)[0]
        stats = level_recall(out['proposal']['levels'], topk, targets)
        totals = stats if totals is None else [t + s for t, s in zip(totals, stats)]
        kept, target_mask = coords[0].numpy(), targets.numpy()
        preds.append(pred['pred_occ_sem'].numpy())
        classes = classes + class_counts(kept, target_mask, gt, preds[-1], free_label)
        oracles.append(oracle_on_kept(kept, gt, free_label))
        ceilings.append(np.where(target_mask, gt, free_label).astype(np.uint8))
        gts.append(gt)
        origins.append(np.asarray(sample.ray_origins))
    return dict(levels=totals, classes=classes,
                RayIoU=main_rayiou(preds, gts, origins, verbose=False)['RayIoU'],
                oracle_RayIoU=main_rayiou(oracles, gts, origins, verbose=False)['RayIoU'],
                targets_RayIoU=main_rayiou(ceilings, gts, origins, verbose=False)['RayIoU'])


def report(result):
    """The printed tables of :func:`diagnose`'s result."""
    from loaders.occ3d import OCC3D_CLASS_NAMES
    lines = []
    for l, (positives, candidates, kept) in enumerate(result['levels']):
        lines.append(f'level {l} (height index 0..{len(positives) - 1}): targets / '
                     f'among candidates / kept, recall {kept.sum() / max(positives.sum(), 1):.2f}')
        for name, row in (('targets', positives), ('candidates', candidates), ('kept', kept)):
            lines.append(f'  {name:>10s} ' + ' '.join(f'{v:6d}' for v in row))
    lines.append('last level, per ground-truth class: targets / kept / kept and labelled '
                 'right / kept but no target')
    for name, row in zip(OCC3D_CLASS_NAMES, result['classes'].T):
        if row.any():
            lines.append(f'  {name:>20s} ' + ' '.join(f'{v:7d}' for v in row))
    lines.append(f"RayIoU {result['RayIoU']:.4f}   oracle labels on the kept voxels "
                 f"{result['oracle_RayIoU']:.4f}   on the targets {result['targets_RayIoU']:.4f}")
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--config', required=True)
    parser.add_argument('--weights', required=True, help='checkpoint (.pth)')
    parser.add_argument('--num', type=int, default=10, help='samples of the test split')
    parser.add_argument('--no-progress', action='store_true')
    args = parser.parse_args(argv)
    if args.num < 1:
        fail(f'--num must be >= 1, got {args.num}')
    allow_mmengine_checkpoints()
    cfg = load_config(args.config)
    require_checkpoint(args.weights)
    result = diagnose(cfg, args.weights, args.num, progress=not args.no_progress)
    print(report(result))
    return result


if __name__ == '__main__':
    main()
