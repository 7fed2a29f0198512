#!/usr/bin/env python
"""Where a GD-OCC checkpoint loses the voxels that matter: recall of the sparse voxel
decoder's pruning per stage and height, and the RayIoU its kept voxels would allow.

The *targets* are the voxels RayIoU measures: occupied voxels with a free face neighbour
(what a ray can hit first) within ``--dilation`` voxels of Occ3D's camera mask. *Above the
ground* means above the highest ground-class voxel (driveable surface, other flat, sidewalk,
terrain) of the target's column (definitions: ``evaluation.proposal_diagnosis``). For N
samples of the config's test split it prints

- per decoder stage and height index: the targets at that stage's resolution (a coarse
  voxel counting when any voxel it covers does), how many of them were among the stage's
  candidates (children of the previous stage's kept voxels) and how many were kept;
- the model's RayIoU next to the RayIoU of an *oracle on the kept voxels* (every kept voxel
  takes its ground-truth label, every other voxel is free): the best any head could do
  with this proposal, so a low oracle points at the proposal and a gap at the head; and
  the RayIoU of the targets themselves (their ground-truth labels alone), the best a
  proposal that learnt its targets perfectly could allow;
- per ground-truth class: its targets at the full grid, how many the proposal kept and
  how many of those the head labelled right, and what the rest of the kept voxels are
  (free space, occupied voxels that are no target);
- the fraction of the above-ground targets kept at the full grid.

Example::

    python tools/diagnose_proposal.py --config configs/toy_gdocc.py \\
        --weights work_dirs/demo/train/epoch_12.pth --num 10
"""
import argparse

import numpy as np
import torch

from core.occ3d import OCC3D_CLASS_NAMES
from engine.runtime import allow_mmengine_checkpoints, fail, load_config, require_checkpoint
from evaluation.proposal_diagnosis import (above_ground, class_counts, diagnostic_targets,
                                           oracle_on_kept, stage_recall)


def diagnose(cfg, weights, num_samples, dilation=2, progress=True):
    """Runs the model on ``num_samples`` samples of ``cfg.test_dataloader`` (evenly spaced).

    Returns:
        dict: ``stages`` (list per stage of int64 [3, Z_s]: targets, candidates, kept,
        summed over the samples), ``classes`` (int64 [4, C + 1] of :func:`class_counts`,
        summed), ``above_ground`` (int64 [2]: above-ground targets, of them kept at the full
        grid), ``RayIoU``, ``oracle_RayIoU`` and ``targets_RayIoU`` (fractions).
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
    totals, classes, above = None, 0, np.zeros(2, dtype=np.int64)
    preds, oracles, ceilings, gts, origins = [], [], [], [], []
    indices = np.linspace(0, len(dataset) - 1, min(num_samples, len(dataset))).round()
    for index in tqdm(indices.astype(int), desc='samples', disable=not progress):
        with torch.no_grad():
            data = model.data_preprocessor(pseudo_collate([dataset[int(index)]]), False)
            out = model.extract_feat(data['inputs'], data['data_samples'])
            coords = out['decoder']['coords']
            pred = model.occ_head.predict(out['preds'], coords)[0]
        sample = data['data_samples'][0]
        gt = np.asarray(sample.gt_occ_sem)
        targets = diagnostic_targets(gt, sample.mask_camera, free_label, dilation)
        stats = stage_recall(out['decoder']['stages'], model.decoder.coarse_shape, targets)
        totals = stats if totals is None else [t + s for t, s in zip(totals, stats)]
        kept = coords[0].numpy()
        preds.append(pred['pred_occ_sem'].numpy())
        classes = classes + class_counts(kept, targets, gt, preds[-1], free_label)
        raised = targets & above_ground(gt)
        above += (int(raised.sum()), int(raised[tuple(kept.T)].sum()))
        oracles.append(oracle_on_kept(kept, gt, free_label))
        ceilings.append(np.where(targets, gt, free_label).astype(np.uint8))
        gts.append(gt)
        origins.append(np.asarray(sample.ray_origins))
    return dict(stages=totals, classes=classes, above_ground=above,
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
