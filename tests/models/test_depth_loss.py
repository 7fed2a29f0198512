"""LSS depth loss: binning, ignored pixels, value against a hand computation."""
import pytest
import torch
import torch.nn.functional as F

from mmdet3d.registry import MODELS

import models  # noqa: F401


def test_one_hot_bins_and_validity():
    loss = MODELS.build(dict(type='DepthLoss', depth_bound=(1.0, 3.0, 0.5)))
    assert loss.num_bins == 4
    gt = torch.tensor([[[0.0, 1.0, 1.49, 2.99, 3.0, 0.5]]])  # [1, 1, 6]
    one_hot, valid = loss.one_hot(gt)
    assert valid.tolist() == [[[False, True, True, True, False, False]]]
    assert one_hot.shape == (1, 4, 1, 6)
    assert one_hot[0, :, 0, 1].tolist() == [1, 0, 0, 0]
    assert one_hot[0, :, 0, 2].tolist() == [1, 0, 0, 0]
    assert one_hot[0, :, 0, 3].tolist() == [0, 0, 0, 1]


def test_value_matches_hand_computation_and_gradient():
    torch.manual_seed(0)
    loss = MODELS.build(dict(type='DepthLoss', depth_bound=(1.0, 5.0, 1.0), loss_weight=2.0))
    logits = torch.randn(2 * 3, 4, 2, 3, requires_grad=True)
    pred = logits.softmax(1)
    gt = torch.zeros(2, 3, 2, 3)
    gt[0, 1, 1, 2] = 2.5   # bin 1
    gt[1, 2, 0, 0] = 4.2   # bin 3
    gt[1, 0, 1, 1] = 7.0   # beyond the bins: ignored
    value = loss(pred, gt)
    expected = (F.binary_cross_entropy(pred[1, :, 1, 2], torch.tensor([0., 1., 0., 0.]),
                                       reduction='sum')
                + F.binary_cross_entropy(pred[5, :, 0, 0], torch.tensor([0., 0., 0., 1.]),
                                         reduction='sum')) / 2
    assert value.item() == pytest.approx(2.0 * expected.item(), rel=1e-5)
    value.backward()
    assert torch.isfinite(logits.grad).all()


def test_no_depth_gives_zero_and_shape_errors():
    loss = MODELS.build(dict(type='DepthLoss', depth_bound=(1.0, 5.0, 1.0)))
    pred = torch.full((2, 4, 2, 2), 0.25, requires_grad=True)
    assert loss(pred, torch.zeros(2, 2, 2)).item() == 0.0
    with pytest.raises(ValueError, match='D=4'):
        loss(torch.rand(2, 5, 2, 2), torch.zeros(2, 2, 2))


def test_reduced_precision_input_gives_the_float32_loss():
    # CUDA autocast refuses binary_cross_entropy; the loss computes in float32 with autocast
    # off (the device check's AMP training step runs it on a GPU), so a bfloat16 prediction
    # under autocast gives the float32 loss of the same values.
    loss = MODELS.build(dict(type='DepthLoss', depth_bound=(1.0, 5.0, 1.0)))
    pred = torch.randn(2, 4, 2, 3, generator=torch.Generator().manual_seed(1)).softmax(1)
    pred = pred.bfloat16()
    gt = torch.tensor([1.5, 2.5, 3.5, 4.5, 0.0, 2.0]).reshape(2, 1, 3).expand(2, 2, 3)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        value = loss(pred, gt)
    assert value.dtype == torch.float32
    assert value.item() == pytest.approx(loss(pred.float(), gt).item(), rel=1e-6)
