"""Lovasz-softmax loss (Berman et al., CVPR 2018): a convex surrogate of the per-class
Jaccard loss, optimised directly on softmax probabilities.

For each class c, the errors e_i = |[y_i = c] - p_i(c)| are sorted in decreasing order and
dotted with the gradient of the Lovasz extension of the Jaccard loss, evaluated on the
ground-truth foreground mask in the same order; the loss is the mean over classes.

The target may also be given as label counts per point ([P, C] floats: point i stands for
``counts[i, c]`` points of label c, all with the same probabilities), which is how a coarse
voxel is compared with the full-grid voxels it covers (SparseOcc upsamples the coarse
prediction to them). Each point then splits into a foreground group (error 1 - p) and a
background group (error p) of those multiplicities; since the Lovasz extension of a block of
equal errors is ``error * (J(end) - J(start))`` whatever their order, sorting the 2P groups
gives exactly the loss over the expanded points.
"""
import torch
import torch.nn as nn

from mmdet3d.registry import MODELS


def lovasz_grad(gt_sorted):
    """Gradient of the Lovasz extension of the Jaccard loss w.r.t. sorted errors.

    Args:
        gt_sorted (Tensor): float [P], the 0/1 foreground of one class, ordered by
            decreasing error.

    Returns:
        Tensor: float [P]; ``J(1:i) - J(1:i-1)`` with ``J(1:i)`` the Jaccard loss when the
        i largest errors are counted as mistakes.
    """
    total = gt_sorted.sum()
    intersection = total - gt_sorted.cumsum(0)
    union = total + (1.0 - gt_sorted).cumsum(0)
    jaccard = 1.0 - intersection / union
    # Differences of consecutive cumulative Jaccard values; the first stays as is.
    if gt_sorted.numel() > 1:
        jaccard = torch.cat([jaccard[:1], jaccard[1:] - jaccard[:-1]])
    return jaccard


def lovasz_softmax_flat(probs, labels, classes='present'):
    """Lovasz-softmax over flattened points.

    Args:
        probs (Tensor): float [P, C], class probabilities (rows sum to 1).
        labels (Tensor): int [P], ground-truth labels in [0, C).
        classes (str or list of int): ``'present'`` averages over the classes that occur in
            ``labels`` (so absent classes neither help nor hurt), ``'all'`` over all C, or an
            explicit list of class indices.

    Returns:
        Tensor: scalar; 0 when there are no points (keeps the graph for ``backward``).
    """
    if probs.numel() == 0:
        return probs.sum() * 0.0
    num_classes = probs.shape[1]
    class_list = range(num_classes) if classes in ('all', 'present') else classes
    losses = []
    for c in class_list:
        foreground = (labels == c).to(probs.dtype)
        if classes == 'present' and foreground.sum() == 0:
            continue
        errors = (foreground - probs[:, c]).abs()
        errors_sorted, order = torch.sort(errors, descending=True)
        losses.append(torch.dot(errors_sorted, lovasz_grad(foreground[order])))
    if not losses:
        return probs.sum() * 0.0
    return torch.stack(losses).mean()


def lovasz_softmax_counts(probs, counts, classes='present', background=None):
    """Lovasz-softmax of points standing for several labelled copies (module docstring).

    Args:
        probs (Tensor): float [P, C] class probabilities.
        counts (Tensor): float [P, C] >= 0, copies of each label per point.
        classes (str or list of int): as :func:`lovasz_softmax_flat`.
        background (Tensor, optional): float [P] >= 0, further copies of each point whose
            label is none of the C (e.g. 255, unknown): background of every class, as
            SparseOcc's Lovasz (called without ``ignore``) counts its 255 voxels.

    Returns:
        Tensor: scalar, equal to :func:`lovasz_softmax_flat` on the expanded points.
    """
    total = counts.sum(1) if background is None else counts.sum(1) + background
    class_list = range(probs.shape[1]) if classes in ('all', 'present') else classes
    losses = []
    for c in class_list:
        foreground = counts[:, c]
        positives = foreground.sum()
        if classes == 'present' and positives == 0:
            continue
        errors = torch.cat([1.0 - probs[:, c], probs[:, c]])
        fg = torch.cat([foreground, torch.zeros_like(foreground)])
        bg = torch.cat([torch.zeros_like(foreground), total - foreground])
        kept = (fg + bg) > 0
        errors, fg, bg = errors[kept], fg[kept], bg[kept]
        errors_sorted, order = torch.sort(errors, descending=True)
        jaccard = 1.0 - (positives - fg[order].cumsum(0)) / (positives + bg[order].cumsum(0))
        steps = torch.cat([jaccard[:1], jaccard[1:] - jaccard[:-1]])
        losses.append(torch.dot(errors_sorted, steps))
    if not losses:
        return probs.sum() * 0.0
    return torch.stack(losses).mean()


@MODELS.register_module()
class LovaszSoftmaxLoss(nn.Module):
    """Lovasz-softmax on per-point class probabilities (here: the kept sparse voxels).

    Args:
        classes (str or list of int): see :func:`lovasz_softmax_flat`.
        ignore_index (int or None): label whose points are left out (e.g. 255).
        loss_weight (float): multiplier of the loss.
    """

    def __init__(self, classes='present', ignore_index=None, loss_weight=1.0):
        super().__init__()
        if not (classes in ('all', 'present') or isinstance(classes, (list, tuple))):
            raise ValueError(f"classes must be 'all', 'present' or a list, got {classes!r}")
        self.classes = classes if isinstance(classes, str) else list(classes)
        self.ignore_index = ignore_index
        self.loss_weight = loss_weight

    def forward(self, probs, labels, background=None):
        """
        Args:
            probs (Tensor): float [P, C] softmax probabilities.
            labels (Tensor): int [P] labels in [0, C) (or ``ignore_index``), or float [P, C]
                label counts (see the module docstring; ``ignore_index`` does not apply).
            background (Tensor, optional): with counts, float [P] copies of each point that
                are background of every class (:func:`lovasz_softmax_counts`).

        Returns:
            Tensor: scalar loss times ``loss_weight``.
        """
        if labels.is_floating_point() and labels.shape == probs.shape:
            return self.loss_weight * lovasz_softmax_counts(probs, labels, self.classes,
                                                            background)
        if probs.dim() != 2 or labels.shape != probs.shape[:1]:
            raise ValueError(f'LovaszSoftmaxLoss: expected probs [P, C] and labels [P], got '
                             f'{tuple(probs.shape)} and {tuple(labels.shape)}')
        if self.ignore_index is not None:
            keep = labels != self.ignore_index
            probs, labels = probs[keep], labels[keep]
        return self.loss_weight * lovasz_softmax_flat(probs, labels.long(), self.classes)
