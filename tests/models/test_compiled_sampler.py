"""The compiled-op decoder sampler equals the pure-PyTorch one (values and gradients)."""
import pytest
import torch

import models  # noqa: F401
from loaders.synthetic_batch import camera_rig
from mmdet3d.registry import MODELS


def _inputs(frames=2, cams=6, size=(88, 32), seed=0):
    gen = torch.Generator().manual_seed(seed)
    width, height = size
    cam2img, cam2ego, img_aug = (torch.from_numpy(m) for m in camera_rig(cams, width, height))
    ego2img = (img_aug @ cam2img @ torch.linalg.inv(cam2ego)).repeat(frames, 1, 1)
    # Past frame: the ego was 2 m behind (the same rig, shifted): ego motion in ego2img.
    shift = torch.eye(4)
    shift[0, 3] = 2.0
    ego2img[cams:] = ego2img[cams:] @ shift
    ego2img = ego2img[None].expand(2, -1, -1, -1).contiguous()
    feats = [torch.randn(2, frames * cams, 8, height // s, width // s, generator=gen,
                         dtype=torch.float64, requires_grad=True) for s in (4, 8)]
    # Points around the ego, some above / below every camera's field of view.
    points = (torch.rand(2, 50, 4, 3, generator=gen, dtype=torch.float64) * 2 - 1) * \
        torch.tensor([30.0, 30.0, 4.0], dtype=torch.float64) + \
        torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    points.requires_grad_(True)
    weights = torch.rand(2, 50, 4, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    return feats, points, ego2img, (height, width), weights


@pytest.mark.parametrize('impl', ['auto', 'reference'])
def test_compiled_sampler_matches_the_pure_pytorch_sampler(impl):
    feats, points, ego2img, img_shape, weights = _inputs()
    pure = MODELS.build(dict(type='MultiviewBilinearSampler', num_cams=6))
    compiled = MODELS.build(dict(type='CompiledMultiviewSampler', num_cams=6, impl=impl))
    expected = pure(feats, points, ego2img, img_shape, weights)
    got = compiled(feats, points, ego2img, img_shape, weights)
    assert got.shape == expected.shape == (2, 50, 4, 8) and got.dtype == torch.float64
    assert (expected != 0).any(-1).float().mean() > 0.3   # most points are seen
    assert (expected == 0).all(-1).any()                  # and some are not
    assert torch.allclose(got, expected, atol=1e-10)
    grad = torch.randn_like(expected)
    want = torch.autograd.grad(expected, [*feats, weights, points], grad)
    have = torch.autograd.grad(got, [*feats, weights, points], grad)
    for a, b in zip(have, want):
        assert torch.allclose(a, b, atol=1e-10)


def test_float32_inputs_give_float32_and_bad_shapes_are_rejected():
    feats, points, ego2img, img_shape, weights = _inputs()
    compiled = MODELS.build(dict(type='CompiledMultiviewSampler', num_cams=6))
    out = compiled([f.float() for f in feats], points.float(), ego2img, img_shape,
                   weights.float())
    assert out.dtype == torch.float32
    with pytest.raises(ValueError, match='level_weights'):
        compiled(feats, points, ego2img, img_shape, weights[..., :1])
    with pytest.raises(ValueError, match='cameras'):
        MODELS.build(dict(type='CompiledMultiviewSampler', num_cams=5))(
            feats, points, ego2img, img_shape, weights)
