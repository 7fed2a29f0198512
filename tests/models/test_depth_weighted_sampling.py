"""Depth-weighted multi-frame multi-view sampling of 3D points
(models/layers/depth_weighted_sampling.py)."""
import pytest
import torch

from models.layers import MultiviewImages

IMG = (32, 64)  # H, W pixels
# The pixel-centre alternative to SparseOcc's conventions (the defaults), which the
# hand-computed values of the first tests assume.
CENTRE = dict(align_corners=False, strict_visibility=False, unseen_reads_first_camera=False,
              level_weight_layout='per_group', eps=1e-2)


def _cam(forward_sign, shift_x=0.0, f=16.0):
    """ego2img of a pinhole camera on the ego x axis (forward_sign +1: looks along +x):
    depth = s (x - shift_x), u = W/2 + f y / depth, v = H/2 + f z / depth."""
    s = forward_sign
    return torch.tensor([[IMG[1] / 2 * s, f, 0.0, -IMG[1] / 2 * s * shift_x],
                         [IMG[0] / 2 * s, 0.0, f, -IMG[0] / 2 * s * shift_x],
                         [s, 0.0, 0.0, -s * shift_x],
                         [0.0, 0.0, 0.0, 1.0]])


def _points(xyz):
    """[B=1, Q, G=1, P=1, 3] from a list of points."""
    return torch.tensor(xyz, dtype=torch.float32).view(1, -1, 1, 1, 3)


def test_each_frame_reads_the_camera_that_sees_the_point():
    h, w = 4, 8
    ramp = torch.arange(w, dtype=torch.float32).expand(h, w)
    # Two frames of two cameras; frame 1 reads 1000 more than frame 0.
    feats = torch.stack([ramp, 100 + ramp, 1000 + ramp, 1100 + ramp]).view(1, 4, 1, h, w)
    ego2img = torch.stack([_cam(+1), _cam(-1), _cam(+1), _cam(-1)])[None]
    images = MultiviewImages([feats], ego2img, IMG, num_cams=2, num_groups=1, **CENTRE)
    # u = 32 + 16 y / depth; pixel centres sit at integer u, so feature column j (stride 8)
    # has its centre at u = 8 j + 3.5.
    points = _points([[10.0, 0.0, 0.0],      # cam 0, u = 32 -> column 3.5625
                      [-4.0, 2.0, 0.0],      # cam 1 (depth 4): u = 40 -> 4.5625
                      [0.0, 0.0, 10.0]])     # above the ego: no camera sees it
    out = images.sample(points, torch.ones(1, 3, 1, 1, 1))
    assert out.shape == (1, 3, 1, 2, 1)      # [B, Q, G, T * P, C / G]
    assert out[0, :, 0, 0, 0].tolist() == pytest.approx([3.5625, 104.5625, 0.0])
    # The frames are returned separately, not averaged.
    assert out[0, :, 0, 1, 0].tolist() == pytest.approx([1003.5625, 1104.5625, 0.0])


def test_a_frame_that_does_not_see_the_point_reads_zero_and_levels_mix():
    level0 = torch.tensor([1.0, 3.0]).view(1, 2, 1, 1, 1).expand(1, 2, 1, 4, 8)
    level1 = 10 * torch.ones(1, 2, 1, 2, 4)
    # Frame 1's camera stands at x = 5: the point at x = 3 is behind it.
    ego2img = torch.stack([_cam(+1), _cam(+1, shift_x=5.0)])[None]
    images = MultiviewImages([level0, level1], ego2img, IMG, num_cams=1, num_groups=1,
                             **CENTRE)
    weights = torch.tensor([0.3, 0.7]).view(1, 1, 1, 1, 2).expand(1, 2, 1, 1, 2)
    out = images.sample(_points([[8.0, 0.0, 0.0], [3.0, 0.0, 0.0]]), weights)[0, :, 0, :, 0]
    assert out.flatten().tolist() == pytest.approx([0.3 * 1.0 + 7.0, 0.3 * 3.0 + 7.0,
                                                    0.3 * 1.0 + 7.0, 0.0])


def test_depth_weights_apply_to_the_current_frame_only():
    feats = torch.ones(1, 2, 1, 4, 8)
    ego2img = torch.stack([_cam(+1), _cam(+1)])[None]
    # One depth map of the current camera (D = 4 bins of 1 m over 1-5 m) at 2 x 4 cells: all
    # mass in the bin around 2.5 m.
    depth = torch.zeros(1, 4, 2, 4)
    depth[:, 1] = 1.0
    images = MultiviewImages([feats], ego2img, IMG, num_cams=1, num_groups=1, depth=depth,
                             depth_bins=(1.0, 5.0, 1.0), **CENTRE)
    points = _points([[2.5, 0.0, 0.0], [4.5, 0.0, 0.0]])
    out = images.sample(points, torch.ones(1, 2, 1, 1, 1), depth_weighted=True)[0, :, 0, :, 0]
    assert out[:, 0].tolist() == pytest.approx([1.0, 0.0])   # current: p(depth)
    assert out[:, 1].tolist() == pytest.approx([1.0, 1.0])   # past frame: weight 1
    with pytest.raises(ValueError, match='depth_weighted needs the LSS depth'):
        MultiviewImages([feats], ego2img, IMG, 1, 1).sample(points, torch.ones(1, 2, 1, 1, 1),
                                                            depth_weighted=True)


def test_groups_sample_their_own_channels_at_their_own_points():
    h, w = 4, 8
    ramp = torch.arange(w, dtype=torch.float32).expand(h, w)
    feats = torch.stack([ramp, 10 + ramp]).view(1, 1, 2, h, w)   # 2 channels, 1 view
    images = MultiviewImages([feats], _cam(+1)[None, None], IMG, num_cams=1, num_groups=2,
                             **CENTRE)
    points = torch.tensor([[10.0, 0.0, 0.0], [10.0, 5.0, 0.0]]).view(1, 1, 2, 1, 3)
    out = images.sample(points, torch.ones(1, 1, 2, 1, 1))
    # Group 0 reads channel 0 at u = 32, group 1 channel 1 at u = 40.
    assert out[0, 0, :, 0, 0].tolist() == pytest.approx([3.5625, 14.5625])


def _ramp_images(**kwargs):
    """One camera looking along +x, one frame, a 4 x 8 feature whose value is its column."""
    feats = torch.arange(8, dtype=torch.float32).expand(4, 8).reshape(1, 1, 1, 4, 8)
    return MultiviewImages([feats], _cam(+1)[None, None], IMG, num_cams=1, num_groups=1,
                           **kwargs)


def test_sparseocc_pixel_convention_maps_u_over_w_with_aligned_corners():
    # u = 32 of W = 64: x = 0.5, read at column 0.5 * (8 - 1) = 3.5 (centre convention:
    # (32.5 / 64) * 8 - 0.5 = 3.5625).
    weights = torch.ones(1, 1, 1, 1, 1)
    sparseocc = _ramp_images().sample(_points([[10.0, 0.0, 0.0]]), weights)
    centre = _ramp_images(**CENTRE).sample(_points([[10.0, 0.0, 0.0]]), weights)
    assert sparseocc.item() == pytest.approx(3.5)
    assert centre.item() == pytest.approx(3.5625)


def test_sparseocc_visibility_is_strict_and_unseen_points_read_camera_zero():
    # Feature values 1 .. 8 by column. u = 0 exactly lies on the image edge (unseen by the
    # strict test, seen by the closed one) and reads column 0; u = -2 lies outside, where
    # bilinear sampling still takes 1 - 2 / 64 * 7 = 0.78 of column 0.
    feats = (1 + torch.arange(8, dtype=torch.float32)).expand(4, 8).reshape(1, 1, 1, 4, 8)
    points = _points([[10.0, -20.0, 0.0], [8.0, -17.0, 0.0]])
    cases = [({}, [1.0, 0.78125]),
             (dict(unseen_reads_first_camera=False), [0.0, 0.0]),
             (dict(strict_visibility=False, unseen_reads_first_camera=False), [1.0, 0.0])]
    for kwargs, expected in cases:
        images = MultiviewImages([feats], _cam(+1)[None, None], IMG, num_cams=1,
                                 num_groups=1, **kwargs)
        out = images.sample(points, torch.ones(1, 2, 1, 1, 1))[0, :, 0, 0, 0]
        assert out.tolist() == pytest.approx(expected, abs=1e-6), kwargs


def test_sparseocc_level_weight_layout_pairs_frames_on_a_group():
    """(B, G, T) weights read as (B, T, G): with T = G = 2, frame 0 uses group 0's weights
    for both groups and frame 1 group 1's."""
    level0 = torch.ones(1, 2, 2, 4, 8)            # 2 views (frames) x 2 channels (groups)
    level1 = torch.zeros(1, 2, 2, 2, 4)
    ego2img = torch.stack([_cam(+1), _cam(+1)])[None]
    points = torch.tensor([10.0, 0.0, 0.0]).expand(1, 1, 2, 1, 3)
    # Group g weighs level 0 by 0.1 (g = 0) or 0.9 (g = 1): the sample is that weight.
    weights = torch.tensor([[0.1, 0.9], [0.9, 0.1]]).view(1, 1, 2, 1, 2)
    layouts = dict(sparseocc=[[0.1, 0.9], [0.1, 0.9]], per_group=[[0.1, 0.1], [0.9, 0.9]])
    for layout, expected in layouts.items():
        images = MultiviewImages([level0, level1], ego2img, IMG, num_cams=1, num_groups=2,
                                 level_weight_layout=layout)
        out = images.sample(points, weights)[0, 0, :, :, 0]    # [G, T * P]
        assert torch.allclose(out, torch.tensor(expected)), layout
    with pytest.raises(ValueError, match='level_weight_layout'):
        MultiviewImages([level0], ego2img, IMG, 1, 2, level_weight_layout='btg')
