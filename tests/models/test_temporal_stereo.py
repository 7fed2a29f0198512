"""Temporal stereo cost: the plane sweep peaks at the true depth of a textured plane."""
import math

import pytest
import torch

from mmdet3d.registry import MODELS

import models  # noqa: F401

HEIGHT, WIDTH, FOCAL = 16, 64, 40.0
DEPTH_BINS = (4.0, 12.0, 0.5)           # 16 bins; bin 8 is centred on 8.25 m
PLANE_X = 8.25


def _ego2img(centre_y):
    """Camera at (0, centre_y, 0) looking along ego +x (cam x = -ego y, cam y = -ego z)."""
    ego2cam = torch.tensor([[0.0, -1.0, 0.0, centre_y],
                            [0.0, 0.0, -1.0, 0.0],
                            [1.0, 0.0, 0.0, 0.0],
                            [0.0, 0.0, 0.0, 1.0]])
    intrinsics = torch.tensor([[FOCAL, 0.0, (WIDTH - 1) / 2, 0.0],
                               [0.0, FOCAL, (HEIGHT - 1) / 2, 0.0],
                               [0.0, 0.0, 1.0, 0.0],
                               [0.0, 0.0, 0.0, 1.0]])
    return intrinsics @ ego2cam


def _plane_features(centre_y, freqs, phases):
    """float [1, C, H, W]: a texture painted on the plane x = PLANE_X, seen by a camera at
    (0, centre_y, 0); channel c is cos(f_c . (y, z) + phase_c)."""
    v, u = torch.meshgrid(torch.arange(HEIGHT, dtype=torch.float32),
                          torch.arange(WIDTH, dtype=torch.float32), indexing='ij')
    y = centre_y - (u - (WIDTH - 1) / 2) * PLANE_X / FOCAL
    z = -(v - (HEIGHT - 1) / 2) * PLANE_X / FOCAL
    arg = freqs[:, 0, None, None] * y + freqs[:, 1, None, None] * z + phases[:, None, None]
    return torch.cos(arg)[None]


def _lss(**stereo):
    return MODELS.build(dict(
        type='LSSViewTransform', in_channels=8, context_channels=8, depth_bins=DEPTH_BINS,
        grid_min=(-16.0, -16.0, -2.0), grid_shape=(8, 8, 2), voxel_size=4.0, downsample=1,
        mid_channels=8, mlp_hidden_dims=(8,),
        loss_depth=dict(type='DepthLoss', depth_bound=DEPTH_BINS),
        stereo=dict(type='TemporalStereoCost', in_channels=8, num_groups=2, mid_channels=8,
                    **stereo)))


def test_cost_peaks_at_the_true_depth_of_a_textured_plane():
    gen = torch.Generator().manual_seed(0)
    freqs = 2.0 + 6.0 * torch.rand(8, 2, generator=gen)      # rad/m: periods of 3-12 px
    phases = 2 * math.pi * torch.rand(8, generator=gen)
    baseline = -2.0                                           # the past camera, 2 m right
    current = _plane_features(0.0, freqs, phases)
    past = _plane_features(baseline, freqs, phases)
    lss = _lss()
    points = lss.frustum_points(_ego2img(0.0)[None, None], HEIGHT, WIDTH, stride=1)[0]
    cost = lss.stereo.cost(current, past, points, _ego2img(baseline)[None], (HEIGHT, WIDTH))
    assert cost.shape == (1, 2, lss.num_bins, HEIGHT, WIDTH)
    true_bin = int((PLANE_X - DEPTH_BINS[0]) // DEPTH_BINS[2])
    # Cells whose true point lies inside the past image (it is shifted 10 px left there).
    inside = cost[0, :, true_bin].abs().sum(0) > 0
    assert inside.float().mean() > 0.7
    best = cost[0].mean(0).argmax(0)
    assert (best[inside] == true_bin).float().mean() > 0.9
    # Points that leave the past image cost nothing.
    assert (cost[0, :, :, :, :3] == 0).any()


def test_lss_adds_stereo_logits_and_needs_its_inputs():
    torch.manual_seed(0)
    lss = _lss().eval()
    feats = torch.randn(1, 1, 8, HEIGHT, WIDTH)
    eye = torch.eye(4)[None, None]
    ego2img = _ego2img(0.0)[None, None]
    inputs = dict(current=feats, past=torch.randn_like(feats), stride=1,
                  past_ego2img=_ego2img(-2.0)[None, None], img_shape=(HEIGHT, WIDTH))
    out = lss(feats, ego2img, eye, eye, eye, inputs)
    assert out['depth'].shape == (1, lss.num_bins, HEIGHT, WIDTH)
    # The stereo term changes the depth: a different past frame gives a different result.
    other = lss(feats, ego2img, eye, eye, eye, dict(inputs, past=torch.randn_like(feats)))
    assert not torch.allclose(out['depth'], other['depth'])
    with pytest.raises(ValueError, match='stereo_inputs'):
        lss(feats, ego2img, eye, eye, eye)


def test_cost_is_pooled_to_the_depthnet_resolution():
    stereo = MODELS.build(dict(type='TemporalStereoCost', in_channels=8, num_groups=4,
                               num_bins=16, mid_channels=8))
    lss = _lss()
    points = lss.frustum_points(_ego2img(0.0)[None, None], HEIGHT, WIDTH, stride=1)[0]
    feats = torch.randn(1, 8, HEIGHT, WIDTH)
    out = stereo(feats, feats, points, _ego2img(-1.0)[None], (HEIGHT, WIDTH), (4, 16))
    assert out.shape == (1, 16, 4, 16)
    with pytest.raises(ValueError, match='divisible'):
        MODELS.build(dict(type='TemporalStereoCost', in_channels=6, num_groups=4,
                          num_bins=16, mid_channels=8))
