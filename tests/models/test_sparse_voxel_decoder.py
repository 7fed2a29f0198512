"""Sparse voxel decoder and the pure-PyTorch multi-view sampler."""
import pytest
import torch
import torch.nn as nn

import models  # noqa: F401
from mmdet3d.registry import MODELS
from models.decoders import chunked_self_attention

IMG = (32, 64)  # H, W pixels


def _cam(forward_sign, shift_x=0.0, f=16.0):
    """ego2img of a pinhole camera on the ego x axis (forward_sign +1: looks along +x):
    depth = s (x - shift_x), u = W/2 + f y / depth, v = H/2 + f z / depth."""
    s = forward_sign
    return torch.tensor([[IMG[1] / 2 * s, f, 0.0, -IMG[1] / 2 * s * shift_x],
                         [IMG[0] / 2 * s, 0.0, f, -IMG[0] / 2 * s * shift_x],
                         [s, 0.0, 0.0, -s * shift_x],
                         [0.0, 0.0, 0.0, 1.0]])


def test_sampler_picks_the_camera_that_sees_the_point_and_interpolates():
    sampler = MODELS.build(dict(type='MultiviewBilinearSampler', num_cams=2))
    h, w = 4, 8
    ramp = torch.arange(w, dtype=torch.float32).expand(h, w)
    feats = torch.stack([ramp, 100 + ramp]).view(1, 2, 1, h, w)  # [B, V, C=1, h, w]
    ego2img = torch.stack([_cam(+1), _cam(-1)])[None]
    # u = 32 + 16 y / depth; pixel centres sit at integer u, so feature column j (stride 8)
    # has its centre at u = 8 j + 3.5.
    points = torch.tensor([[[[10.0, 0.0, 0.0],      # cam 0, u = 32 -> column 3.5625
                             [-4.0, 2.0, 0.0],      # cam 1 (depth 4): u = 40 -> 4.5625
                             [0.0, 0.0, 10.0]]]])   # above the ego: no camera sees it
    out = sampler([feats], points, ego2img, IMG, torch.ones(1, 1, 3, 1))
    assert out.shape == (1, 1, 3, 1)
    assert out[0, 0, :, 0].tolist() == pytest.approx([3.5625, 104.5625, 0.0])


def test_sampler_averages_frames_that_see_the_point_and_mixes_levels():
    sampler = MODELS.build(dict(type='MultiviewBilinearSampler', num_cams=1))
    level0 = torch.tensor([1.0, 3.0]).view(1, 2, 1, 1, 1).expand(1, 2, 1, 4, 8)
    level1 = 10 * torch.ones(1, 2, 1, 2, 4)
    # Frame 1's camera stands at x = 5: the point at x = 3 is behind it.
    ego2img = torch.stack([_cam(+1), _cam(+1, shift_x=5.0)])[None]
    points = torch.tensor([[[[8.0, 0.0, 0.0], [3.0, 0.0, 0.0]]]])
    weights = torch.tensor([0.3, 0.7]).expand(1, 1, 2, 2)
    out = sampler([level0, level1], points, ego2img, IMG, weights)[0, 0, :, 0]
    assert out.tolist() == pytest.approx([0.3 * 2.0 + 7.0, 0.3 * 1.0 + 7.0])


def _decoder_cfg(**over):
    cfg = dict(type='SparseVoxelDecoder', embed_dims=16, num_layers=2, num_heads=2,
               ffn_dims=32, num_points=3, num_feat_levels=2, grid_min=(-3.2, -3.2, -1.0),
               grid_shape=(16, 16, 8), voxel_size=0.4, window_size=4, chunk_size=8,
               offset_range=0.6, dropout=0.0,
               sampler=dict(type='MultiviewBilinearSampler', num_cams=2))
    cfg.update(over)
    return cfg


def _decoder_inputs(num=20, seed=0):
    gen = torch.Generator().manual_seed(seed)
    flat = torch.randperm(16 * 16 * 8, generator=gen)[:num]
    coords = torch.stack([flat // 128, flat // 8 % 16, flat % 8], -1)[None]
    feats = torch.randn(1, num, 16, generator=gen)
    mlvl = [torch.randn(1, 4, 16, 4, 8, generator=gen, requires_grad=True),
            torch.randn(1, 4, 16, 2, 4, generator=gen, requires_grad=True)]
    ego2img = torch.stack([_cam(+1), _cam(-1), _cam(+1, 0.4), _cam(-1, 0.4)])[None]
    return coords, feats.requires_grad_(), mlvl, ego2img


def test_decoder_shapes_and_gradients():
    decoder = MODELS.build(_decoder_cfg())
    coords, feats, mlvl, ego2img = _decoder_inputs()
    out = decoder(coords, feats, mlvl, ego2img, IMG)
    assert out.shape == feats.shape and torch.isfinite(out).all()
    out.square().sum().backward()
    assert feats.grad.abs().sum() > 0
    assert all(level.grad.abs().sum() > 0 for level in mlvl)  # images reach the voxels


def test_decoder_is_equivariant_to_voxel_order():
    # Chunks follow a spatial sort of the coordinates, not the input order.
    decoder = MODELS.build(_decoder_cfg()).eval()
    coords, feats, mlvl, ego2img = _decoder_inputs()
    perm = torch.randperm(coords.shape[1])
    out = decoder(coords, feats, mlvl, ego2img, IMG)
    out_perm = decoder(coords[:, perm], feats[:, perm], mlvl, ego2img, IMG)
    assert torch.allclose(out[:, perm], out_perm, atol=1e-5)


def test_one_chunk_equals_full_attention():
    torch.manual_seed(0)
    qkv, proj = nn.Linear(8, 24), nn.Linear(8, 8)
    coords = torch.randint(0, 10, (2, 7, 3))
    x, pos = torch.randn(2, 7, 8), torch.randn(2, 7, 8)
    out = chunked_self_attention(x, pos, coords, qkv, proj, 2, 4, 0, 16, 0.0)
    q, k, _ = qkv(x + pos).chunk(3, -1)
    v = qkv(x).chunk(3, -1)[2]
    split = lambda t: t.view(2, 7, 2, 4).transpose(1, 2)
    attn = (split(q) @ split(k).transpose(-1, -2) / 2.0).softmax(-1) @ split(v)
    expected = proj(attn.transpose(1, 2).reshape(2, 7, 8))
    assert torch.allclose(out, expected, atol=1e-5)


@MODELS.register_module(force=True)
class _RecordingSampler(nn.Module):
    """Test double: records the call and returns ones."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, mlvl_feats, points, ego2img, img_shape, level_weights):
        self.calls.append((points.shape, level_weights.shape, img_shape))
        return points.new_ones(*points.shape[:3], mlvl_feats[0].shape[2])


def test_sampler_is_injectable():
    decoder = MODELS.build(_decoder_cfg(sampler=dict(type='_RecordingSampler')))
    coords, feats, mlvl, ego2img = _decoder_inputs(num=5)
    decoder(coords, feats, mlvl, ego2img, IMG)
    assert decoder.sampler.calls == [((1, 5, 3, 3), (1, 5, 3, 2), IMG)] * 2
