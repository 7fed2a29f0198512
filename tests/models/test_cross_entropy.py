"""Class-weighted cross-entropy on label counts (models/losses/cross_entropy.py)."""
import math

import pytest
import torch
import torch.nn.functional as F

from models.losses import CountCrossEntropyLoss


def test_counts_equal_torch_cross_entropy_on_the_expanded_voxels():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 3, generator=gen)
    counts = torch.tensor([[2., 0, 1], [0, 0, 0], [0, 4, 0], [1, 1, 1], [0, 0, 3]])
    rows = torch.arange(5).repeat_interleave(counts.sum(1).long())
    labels = torch.cat([torch.arange(3).repeat_interleave(c.long()) for c in counts])
    frequencies = [10.0, 1000.0, 1e6]
    loss = CountCrossEntropyLoss(class_frequencies=frequencies, loss_weight=2.0)
    weight = torch.tensor([1 / math.log(f + 0.001) for f in frequencies])
    expected = 2.0 * F.cross_entropy(logits[rows], labels, weight=weight)
    assert loss(logits, counts).item() == pytest.approx(expected.item(), rel=1e-6)
    # Plain labels are one-hot counts.
    assert loss(logits[rows], labels).item() == pytest.approx(expected.item(), rel=1e-6)


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match='2 class frequencies for 3 classes'):
        CountCrossEntropyLoss(class_frequencies=[1.0, 2.0])(torch.zeros(2, 3),
                                                            torch.zeros(2, 3))
    with pytest.raises(ValueError, match='logits \\[P, C\\] and counts'):
        CountCrossEntropyLoss()(torch.zeros(2, 3), torch.zeros(2, 4))
