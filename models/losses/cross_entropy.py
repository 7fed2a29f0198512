"""Class-weighted cross-entropy on label counts (SparseOcc's per-stage ``CE_ssc_loss``).

Point i of the prediction stands for ``counts[i, c]`` voxels of label c (a coarse voxel and
the full-grid voxels it covers; one-hot rows for plain labels). The loss is the weighted mean
over those voxels, ``sum_ic n_ic w_c (-log p_ic) / sum_ic n_ic w_c``, exactly what
``torch.nn.CrossEntropyLoss(weight=w)`` gives on the expanded voxels.

Class weights follow SparseOcc: ``w_c = 1 / log(f_c + 0.001)`` from the label frequencies
``f_c`` of the training set (nuScenes' are in ``configs/_base_/datasets/occ3d_nuscenes.py``).
"""
import math

import torch
import torch.nn as nn

from mmdet3d.registry import MODELS


@MODELS.register_module()
class CountCrossEntropyLoss(nn.Module):
    """Cross-entropy over label counts (see the module docstring).

    Args:
        class_frequencies (sequence of float, optional): voxel count of each label in the
            training set (free last); None = unweighted.
        loss_weight (float): multiplier of the loss.
    """

    def __init__(self, class_frequencies=None, loss_weight=1.0):
        super().__init__()
        weight = None if class_frequencies is None else torch.tensor(
            [1.0 / math.log(float(f) + 0.001) for f in class_frequencies], dtype=torch.float32)
        self.register_buffer('class_weight', weight, persistent=False)
        self.loss_weight = loss_weight

    def forward(self, logits, counts):
        """
        Args:
            logits (Tensor): float [P, C].
            counts (Tensor): float [P, C] >= 0 label counts, or int [P] labels.

        Returns:
            Tensor: scalar; 0 (with the graph kept) when no voxel is counted.
        """
        if not counts.is_floating_point():
            counts = torch.nn.functional.one_hot(counts.long(), logits.shape[1])
        if counts.shape != logits.shape:
            raise ValueError(f'CountCrossEntropyLoss: logits [P, C] and counts [P, C] or '
                             f'labels [P] expected, got {tuple(logits.shape)} and '
                             f'{tuple(counts.shape)}')
        if self.class_weight is not None and self.class_weight.numel() != logits.shape[1]:
            raise ValueError(f'CountCrossEntropyLoss: {self.class_weight.numel()} class '
                             f'frequencies for {logits.shape[1]} classes')
        weights = counts.to(logits.dtype)
        if self.class_weight is not None:
            weights = weights * self.class_weight.to(logits.dtype)
        nll = -logits.log_softmax(-1)
        return self.loss_weight * (weights * nll).sum() / weights.sum().clamp_min(1e-12)
