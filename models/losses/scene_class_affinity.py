"""Scene-class affinity losses (MonoScene, Cao & de Charette, CVPR 2022).

Both losses treat a set of voxels as one scene and ask, per class, that the soft precision,
recall and specificity of the prediction be 1 (binary cross-entropy of each ratio against 1):

    precision_c = sum(p_c * y_c) / sum(p_c)
    recall_c = sum(p_c * y_c) / sum(y_c)
    specificity_c = sum((1 - p_c) * (1 - y_c)) / sum(1 - y_c)

* semantic (``SemScalLoss``): every class c present in the ground truth, with p_c its
  softmax probability; averaged over the classes that contributed;
* geometric (``GeoScalLoss``): a single "non-empty" class, p = 1 - p_free.

Here they run on the kept sparse voxels (never a dense grid), on probabilities, not logits.
The target is labels [P] or label counts [P, C] (a coarse voxel standing for the full-grid
voxels it covers; every sum above is then weighted by the counts, which equals the loss over
the expanded voxels).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmdet3d.registry import MODELS


def _ratio_bce(numerator, denominator):
    """BCE(num / den, 1) = -log(num / den); the ratio is clamped into (0, 1] because
    soft ratios may hit 0 (log would be -inf) and float error may push them above 1. CUDA
    autocast refuses binary_cross_entropy (unsafe in float16): float32, autocast off."""
    with torch.autocast(numerator.device.type, enabled=False):
        ratio = (numerator.float() / denominator.float().clamp_min(1e-12)).clamp(1e-7, 1.0)
        return F.binary_cross_entropy(ratio, torch.ones_like(ratio))


def affinity_terms(prob, target, total):
    """Precision + recall + specificity BCE terms of one class.

    Args:
        prob (Tensor): float [P] predicted probability of the class.
        target (Tensor): float [P] >= 0, how many of the voxels point i stands for have the
            class (0/1 for plain labels).
        total (Tensor): float [P], how many voxels point i stands for (1 for plain labels).

    Returns:
        Tensor or None: scalar sum of the terms; None if the class is absent from
        ``target`` (precision/recall undefined).
    """
    if target.sum() == 0:
        return None
    true_positive = (prob * target).sum()
    loss = _ratio_bce(true_positive, (prob * total).sum()) + \
        _ratio_bce(true_positive, target.sum())
    negatives = total - target
    if negatives.sum() > 0:
        loss = loss + _ratio_bce(((1.0 - prob) * negatives).sum(), negatives.sum())
    return loss


class _AffinityLoss(nn.Module):
    """Shared arguments and input checks.

    Args:
        free_label (int): index of the free class (17 for Occ3D).
        ignore_index (int or None): label whose voxels are left out.
        loss_weight (float): multiplier of the loss.
    """

    def __init__(self, free_label, ignore_index=None, loss_weight=1.0):
        super().__init__()
        self.free_label = free_label
        self.ignore_index = ignore_index
        self.loss_weight = loss_weight

    def _counts(self, probs, labels):
        """probs [P, C] and label counts float [P, C] from labels [P] (ignored ones left
        out) or counts [P, C]."""
        if labels.is_floating_point() and labels.shape == probs.shape:
            return probs, labels.to(probs.dtype)
        if probs.dim() != 2 or labels.shape != probs.shape[:1]:
            raise ValueError(f'{type(self).__name__}: expected probs [P, C] and labels [P] '
                             f'or counts [P, C], got {tuple(probs.shape)} and '
                             f'{tuple(labels.shape)}')
        if self.ignore_index is not None:
            keep = labels != self.ignore_index
            probs, labels = probs[keep], labels[keep]
        return probs, F.one_hot(labels.long(), probs.shape[1]).to(probs.dtype)


@MODELS.register_module()
class SemScalLoss(_AffinityLoss):
    """Semantic scene-class affinity loss; see the module docstring.

    ``forward(probs [P, C] float softmax probabilities, labels [P] int or counts [P, C]
    float)`` returns a scalar. Every class present in ``labels`` contributes, the free class
    included (as in MonoScene, whose class set contains "empty").
    """

    def forward(self, probs, labels):
        probs, counts = self._counts(probs, labels)
        total = counts.sum(1)
        terms = []
        for c in range(probs.shape[1]):
            term = affinity_terms(probs[:, c], counts[:, c], total)
            if term is not None:
                terms.append(term)
        if not terms:
            return probs.sum() * 0.0
        return self.loss_weight * torch.stack(terms).mean()


@MODELS.register_module()
class GeoScalLoss(_AffinityLoss):
    """Geometric scene-class affinity loss on non-emptiness; see the module docstring.

    ``forward(probs [P, C] float softmax probabilities, labels [P] int or counts [P, C]
    float)`` returns a scalar; the non-empty probability is ``1 - probs[:, free_label]``.
    """

    def forward(self, probs, labels):
        probs, counts = self._counts(probs, labels)
        total = counts.sum(1)
        nonempty = 1.0 - probs[:, self.free_label]
        term = affinity_terms(nonempty, total - counts[:, self.free_label], total)
        if term is None:
            return probs.sum() * 0.0
        return self.loss_weight * term
