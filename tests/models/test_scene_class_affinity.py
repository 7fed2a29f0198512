"""Scene-class affinity losses (MonoScene): known values and gradients."""
import math

import pytest
import torch

from mmdet3d.registry import MODELS

import models  # noqa: F401

FREE = 2


def test_perfect_prediction_is_zero():
    labels = torch.tensor([0, 1, 2, 2, 0])
    probs = torch.nn.functional.one_hot(labels, 3).float()
    for kind in ('SemScalLoss', 'GeoScalLoss'):
        loss = MODELS.build(dict(type=kind, free_label=FREE))
        assert loss(probs, labels).item() == pytest.approx(0.0, abs=1e-5)


def test_geometric_known_value():
    # Non-empty prob p = 1 - p_free = [0.8, 0.4, 0.2]; target [1, 1, 0].
    probs = torch.tensor([[0.8, 0.0, 0.2], [0.0, 0.4, 0.6], [0.1, 0.1, 0.8]])
    labels = torch.tensor([0, 1, FREE])
    tp = 0.8 + 0.4
    precision, recall, specificity = tp / (0.8 + 0.4 + 0.2), tp / 2, (1 - 0.2) / 1
    expected = -(math.log(precision) + math.log(recall) + math.log(specificity))
    loss = MODELS.build(dict(type='GeoScalLoss', free_label=FREE, loss_weight=3.0))
    assert loss(probs, labels).item() == pytest.approx(3.0 * expected, rel=1e-5)


def test_semantic_known_value_and_ignore():
    probs = torch.tensor([[0.6, 0.4], [0.3, 0.7], [0.5, 0.5]])
    labels = torch.tensor([0, 1, 255])
    # class 0: p = [0.6, 0.3], y = [1, 0]; class 1: p = [0.4, 0.7], y = [0, 1].
    c0 = -(math.log(0.6 / 0.9) + math.log(0.6) + math.log(0.7))
    c1 = -(math.log(0.7 / 1.1) + math.log(0.7) + math.log(0.6))
    loss = MODELS.build(dict(type='SemScalLoss', free_label=1, ignore_index=255))
    assert loss(probs, labels).item() == pytest.approx((c0 + c1) / 2, rel=1e-5)


def test_gradients_are_finite_even_with_zero_probabilities():
    logits = torch.randn(30, 4, requires_grad=True)
    labels = torch.randint(0, 4, (30,))
    probs = torch.cat([logits.softmax(-1)[:, :3], torch.zeros(30, 1)], 1)  # class 3 never
    total = MODELS.build(dict(type='SemScalLoss', free_label=3))(probs, labels) + \
        MODELS.build(dict(type='GeoScalLoss', free_label=3))(probs, labels)
    total.backward()
    assert torch.isfinite(total) and torch.isfinite(logits.grad).all()


def test_reduced_precision_input_gives_the_float32_loss():
    # CUDA autocast refuses binary_cross_entropy: the ratios are computed in float32 with
    # autocast off (the device check's AMP training step runs it on a GPU). The sums before
    # them still run in bfloat16 under autocast, hence the bfloat16 tolerance.
    probs = torch.randn(30, 4, generator=torch.Generator().manual_seed(2)).softmax(1)
    probs = probs.bfloat16()
    labels = torch.randint(0, 4, (30,), generator=torch.Generator().manual_seed(3))
    for kind in ('SemScalLoss', 'GeoScalLoss'):
        loss = MODELS.build(dict(type=kind, free_label=FREE))
        with torch.autocast('cpu', dtype=torch.bfloat16):
            value = loss(probs, labels)
        assert value.dtype == torch.float32
        assert value.item() == pytest.approx(loss(probs.float(), labels).item(), rel=1e-2)
