"""Lovasz-softmax: known values of the Jaccard surrogate."""
import pytest
import torch

from mmdet3d.registry import MODELS

import models  # noqa: F401  (registers the modules)


def _one_hot(labels, num_classes):
    return torch.nn.functional.one_hot(torch.tensor(labels), num_classes).float()


def test_perfect_prediction_is_zero():
    loss = MODELS.build(dict(type='LovaszSoftmaxLoss'))
    labels = torch.tensor([0, 2, 1, 2, 0])
    assert loss(_one_hot(labels.tolist(), 3), labels).item() == 0.0


def test_hard_prediction_equals_one_minus_iou():
    # On 0/1 probabilities the Lovasz extension equals the Jaccard loss of each class:
    # class 0: IoU 1/2, class 1: IoU 2/3 -> mean(1/2, 1/3) = 5/12.
    loss = MODELS.build(dict(type='LovaszSoftmaxLoss', loss_weight=2.0))
    labels = torch.tensor([0, 0, 1, 1])
    probs = _one_hot([0, 1, 1, 1], 2)
    assert loss(probs, labels).item() == pytest.approx(2.0 * 5 / 12)


def test_uniform_prediction_and_ignore():
    loss = MODELS.build(dict(type='LovaszSoftmaxLoss', ignore_index=255))
    probs = torch.full((3, 2), 0.5)
    labels = torch.tensor([0, 1, 255])
    # Equal errors e = 0.5 on every point: loss = e * Jaccard(all wrong) = 0.5 per class.
    assert loss(probs, labels).item() == pytest.approx(0.5)


def test_all_classes_and_gradient():
    loss = MODELS.build(dict(type='LovaszSoftmaxLoss', classes='all'))
    logits = torch.randn(20, 4, requires_grad=True)
    labels = torch.randint(0, 3, (20,))
    value = loss(logits.softmax(-1), labels)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(logits.grad).all()
    # 'all' also averages in class 3, absent from the labels: its Jaccard loss is 1 iff it
    # is predicted anywhere, so 'all' >= 'present' here.
    present = MODELS.build(dict(type='LovaszSoftmaxLoss'))(logits.softmax(-1), labels)
    assert value.item() != pytest.approx(present.item())


def test_empty_input_is_zero():
    loss = MODELS.build(dict(type='LovaszSoftmaxLoss', ignore_index=255))
    assert loss(torch.rand(2, 3), torch.tensor([255, 255])).item() == 0.0


def test_label_counts_equal_the_expanded_points():
    """A point standing for n copies of each label gives the loss of the expanded copies."""
    from models.losses import lovasz_softmax_counts, lovasz_softmax_flat
    gen = torch.Generator().manual_seed(0)
    probs = torch.rand(7, 4, generator=gen).softmax(-1)
    counts = torch.randint(0, 4, (7, 4), generator=gen).float()
    counts[2] = 0                                            # a point that counts for nothing
    rows = torch.arange(7).repeat_interleave(counts.sum(1).long())
    labels = torch.cat([torch.arange(4).repeat_interleave(c.long()) for c in counts])
    expected = lovasz_softmax_flat(probs[rows], labels)
    assert lovasz_softmax_counts(probs, counts).item() == pytest.approx(expected.item(),
                                                                        rel=1e-5)
    one_hot = torch.nn.functional.one_hot(labels, 4).float()
    assert lovasz_softmax_counts(probs[rows], one_hot).item() == pytest.approx(
        expected.item(), rel=1e-5)
