"""Implicit (voxel query) view transform and gated volume fusion: shapes, depth lookup,
depth gating of samples, gradients."""
import math

import torch

from mmdet3d.registry import MODELS

import models  # noqa: F401
from models.layers.depth_weighted_sampling import (MultiviewImages, current_frame_depth_weight,
                                                   lookup_depth_probability, project_points)
from models.ops.multiview_sampling import multiview_sampling, to_sampling_layout

IMG_H, IMG_W = 12, 20                  # augmented image, pixels
STRIDE = 4                             # depth map 3 x 5 cells
DEPTH_BINS = (1.0, 9.0, 1.0)           # 8 bins, centres 1.5 ... 8.5 m
F_AUG, CX, CY = 8.0, 9.5, 5.5          # principal point = centre of depth cell (1, 2)
GRID_MIN = (3.0, -1.0, -0.5)           # 2 x 2 x 1 queries of 1 m in front of camera 0
GRID_SHAPE = (2, 2, 1)
C = 8


def ego2img(yaw=0.0, shift=(0.0, 0.0, 0.0)):
    """Camera at ``shift`` looking along ego +x rotated by ``yaw``: float32 [4, 4]."""
    c, s = math.cos(yaw), math.sin(yaw)
    rot = torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    cam2ego = torch.eye(4, dtype=torch.float64)
    # camera x right, y down, z forward in ego coordinates for a +x-facing camera
    cam2ego[:3, :3] = rot @ torch.tensor([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0],
                                          [0.0, -1.0, 0.0]], dtype=torch.float64)
    cam2ego[:3, 3] = torch.tensor(shift, dtype=torch.float64)
    intr = torch.eye(4, dtype=torch.float64)
    intr[0, 0] = intr[1, 1] = F_AUG
    intr[0, 2], intr[1, 2] = CX, CY
    return (intr @ torch.linalg.inv(cam2ego)).float()


def rig(batch, frames):
    """[B, T * 2, 4, 4]: per frame a front (+x) and a back (-x) camera; past frames shifted."""
    views = []
    for t in range(frames):
        shift = (-0.2 * t, 0.05 * t, 0.0)
        views += [ego2img(0.0, shift), ego2img(math.pi, shift)]
    return torch.stack(views)[None].expand(batch, -1, -1, -1).contiguous()


def build(**overrides):
    cfg = dict(type='ImplicitViewTransform', embed_dims=C, grid_min=GRID_MIN,
               grid_shape=GRID_SHAPE, voxel_size=1.0, num_points=3, num_levels=2,
               num_groups=2, offset_range=0.3)
    cfg.update(overrides)
    return MODELS.build(cfg)


def feats(batch, views, requires_grad=False):
    levels = [torch.randn(batch, views, C, 3, 5), torch.randn(batch, views, C, 6, 10)]
    return [f.requires_grad_(requires_grad) for f in levels]


def images(levels, ego2img, depth=None):
    """The detector's images of one forward: two cameras per frame, the branch's 2 groups,
    the LSS depth bins."""
    return MultiviewImages(levels, ego2img, (IMG_H, IMG_W), num_cams=2, num_groups=2,
                           depth=depth, depth_bins=None if depth is None else DEPTH_BINS)


def random_depth(batch, cams=2):
    return torch.randn(batch * cams, 8, IMG_H // STRIDE, IMG_W // STRIDE).softmax(1)


def test_output_shapes_with_past_frames():
    torch.manual_seed(0)
    vt = build()
    volume = torch.randn(2, C, *GRID_SHAPE)
    out = vt(volume, images(feats(2, 4), rig(2, 2), random_depth(2)))
    assert out.shape == (2, C, *GRID_SHAPE) and out.dtype == torch.float32
    assert torch.isfinite(out).all()
    # Explicit volume with other channels goes through the input projection.
    vt2 = build(in_channels=5, use_depth_weight=False)
    assert vt2(torch.randn(1, 5, *GRID_SHAPE),
               images(feats(1, 2), rig(1, 1))).shape == (1, C, *GRID_SHAPE)


def test_depth_lookup_hand_built_map():
    torch.manual_seed(1)
    probs = torch.rand(1, 8, 3, 5)
    # Through the branch's projection: points on the optical axis land on cell (1, 2).
    vt = build()
    points = torch.tensor([[[3.5, 0.0, 0.0],     # bin 2's centre
                            [4.0, 0.0, 0.0],     # halfway between bins 2 and 3
                            [1.2, 0.0, 0.0],     # below the first centre: bin 0
                            [4.0, -1.0, 0.0],    # u = 9.5 + 2: halfway to cell (1, 3)
                            [0.5, 0.0, 0.0],     # nearer than d_min
                            [9.5, 0.0, 0.0]]])   # beyond d_max
    cams = torch.zeros(1, 6, dtype=torch.long)
    uv, _, dist = project_points(points, rig(1, 1), (IMG_H, IMG_W), vt.eps)
    weight = current_frame_depth_weight(uv, dist, cams, torch.ones(1, 6, dtype=torch.bool),
                                        torch.cat([probs, torch.rand(1, 8, 3, 5)]),
                                        (IMG_H, IMG_W), DEPTH_BINS)
    expected = torch.stack([probs[0, 2, 1, 2], (probs[0, 2, 1, 2] + probs[0, 3, 1, 2]) / 2,
                            probs[0, 0, 1, 2],
                            (probs[0, 2, 1, 2] + probs[0, 3, 1, 2]
                             + probs[0, 2, 1, 3] + probs[0, 3, 1, 3]) / 4,
                            torch.tensor(0.0), torch.tensor(0.0)])
    torch.testing.assert_close(weight[0], expected)
    # Directly, in the normalised ((u + 0.5) / W, (v + 0.5) / H) convention.
    uv = torch.tensor([[[10.0 / IMG_W, 6.0 / IMG_H]]])
    torch.testing.assert_close(
        lookup_depth_probability(probs, uv, torch.tensor([[6.5]]), (IMG_H, IMG_W),
                                 DEPTH_BINS), probs[0, 5, 1, 2].view(1, 1))


def _zero_at_points_depth(batch):
    """Depth maps: camera 0 puts all mass in the last bin (8.5 m), far behind every sample
    (x <= 4.8 m), so its probability at every sample's depth is exactly 0."""
    depth = random_depth(batch)
    depth[0::2] = 0.0
    depth[0::2, 7] = 1.0
    return depth


def test_zero_depth_probability_sample_contributes_nothing():
    torch.manual_seed(2)
    vt = build().eval()
    volume = torch.randn(1, C, *GRID_SHAPE)
    levels = feats(1, 2)
    depth = _zero_at_points_depth(1)
    changed = [f.clone() for f in levels]
    for f in changed:
        f[:, 0] = torch.randn_like(f[:, 0]) * 10      # new features for camera 0 only
    with torch.no_grad():
        base = vt(volume, images(levels, rig(1, 1), depth))
        other = vt(volume, images(changed, rig(1, 1), depth))
    torch.testing.assert_close(base, other)
    # With a non-zero probability there, camera 0's features do matter.
    with torch.no_grad():
        base = vt(volume, images(levels, rig(1, 1), random_depth(1)))
        other2 = vt(volume, images(changed, rig(1, 1), random_depth(1)))
    assert (base - other2).abs().max() > 1e-3


def test_without_depth_weight_camera_features_change_output():
    torch.manual_seed(2)
    vt = build(use_depth_weight=False).eval()
    volume = torch.randn(1, C, *GRID_SHAPE)
    levels = feats(1, 2)
    changed = [f.clone() for f in levels]
    for f in changed:
        f[:, 0] = torch.randn_like(f[:, 0]) * 10
    with torch.no_grad():
        base = vt(volume, images(levels, rig(1, 1), _zero_at_points_depth(1)))
        other = vt(volume, images(changed, rig(1, 1), _zero_at_points_depth(1)))
    assert (base - other).abs().max() > 1e-3


def test_gradients_reach_parameters_and_features():
    torch.manual_seed(3)
    vt = build()
    volume = torch.randn(1, C, *GRID_SHAPE, requires_grad=True)
    levels = feats(1, 4, requires_grad=True)
    depth = random_depth(1).requires_grad_(True)
    out = vt(volume, images(levels, rig(1, 2), depth))
    # A random projection: LayerNorm makes out.sum() (almost) constant.
    (out * torch.randn_like(out)).sum().backward()
    for name in ('offsets.weight', 'offsets.bias', 'level_logits.weight', 'pos_embed.0.weight',
                 'output_proj.weight'):
        grad = dict(vt.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name
    for f in levels:
        assert f.grad is not None and f.grad.abs().sum() > 0
        assert f.grad[:, 2:].abs().sum() > 0          # past frame's views too
    assert volume.grad.abs().sum() > 0 and depth.grad.abs().sum() > 0


def _direct_volume(vt, volume, levels, ego2img, depth):
    """The branch's volume computed without MultiviewImages: every point projected into
    every view, the first camera of each frame picked, the current frame projected again for
    its depth weight and each level laid out here (the path the branch took on its own)."""
    batch, num_views, cams = volume.shape[0], levels[0].shape[1], 2
    frames, groups, per, num_levels = num_views // cams, vt.num_groups, vt.num_points, 2
    centres = vt.voxel_centres()
    extent = centres.new_tensor([n * s for n, s in zip(vt.grid_shape, vt.voxel_size)])
    pos = vt.pos_embed((centres - centres.new_tensor(vt.grid_min)) / extent)
    queries = vt.query_proj(volume.flatten(2).transpose(1, 2)) + pos[None]
    num_q = queries.shape[1]
    points = vt.sample_points(queries, centres).reshape(batch, -1, 3)
    num = points.shape[1]
    uv, visible, _ = project_points(points, ego2img, (IMG_H, IMG_W), vt.eps)
    uv, visible = uv.view(batch, frames, cams, num, 2), visible.view(batch, frames, cams, num)
    camera, seen = visible.to(torch.uint8).argmax(2), visible.any(2)
    uv = uv.gather(2, camera[:, :, None, :, None].expand(-1, -1, 1, -1, 2)).squeeze(2)
    view = torch.where(seen, camera + torch.arange(frames)[:, None] * cams, -1)
    weights = vt.level_logits(queries).view(batch, num, num_levels).softmax(-1)
    weights = weights[:, None].expand(-1, frames, -1, -1)
    cur_uv, _, cur_depth = project_points(points, ego2img[:, :cams], (IMG_H, IMG_W), vt.eps)
    current = current_frame_depth_weight(cur_uv, cur_depth, camera[:, 0], seen[:, 0], depth,
                                         (IMG_H, IMG_W), DEPTH_BINS)
    weights = weights * torch.cat([current[:, None], torch.ones(batch, frames - 1, num)],
                                  1)[..., None]

    def to_op(x):
        x = x.reshape(batch, frames, num_q, groups, per, *x.shape[3:])
        x = x.permute(0, 3, 2, 1, 4, *range(5, x.dim()))
        return x.reshape(batch * groups, num_q, frames * per, *x.shape[5:])

    feats_op = [to_sampling_layout(f.flatten(0, 1), num_views, groups) for f in levels]
    sampled = multiview_sampling(feats_op, to_op(uv).contiguous(), to_op(view).contiguous(),
                                 to_op(weights).contiguous())
    sampled = sampled.view(batch, groups, num_q, frames, per, -1)
    count = to_op(seen.float()).view(batch, groups, num_q, frames, per).sum(3).clamp_min(1)
    sampled = (sampled.sum(3) / count[..., None]).mean(3)
    sampled = sampled.permute(0, 2, 1, 3).reshape(batch, num_q, C)
    out = vt.norm1(queries + vt.output_proj(sampled))
    out = vt.norm2(out + vt.ffn(out))
    return out.transpose(1, 2).reshape(batch, C, *GRID_SHAPE)


def test_shared_images_give_the_direct_computation():
    torch.manual_seed(4)
    vt = build()
    volume = torch.randn(2, C, *GRID_SHAPE)
    levels = feats(2, 4, requires_grad=True)
    ego2img, depth = rig(2, 2), random_depth(2)
    out = vt(volume, images(levels, ego2img, depth))
    direction = torch.randn_like(out)
    grads = torch.autograd.grad((out * direction).sum(), levels)
    expected = _direct_volume(vt, volume, levels, ego2img, depth)
    expected_grads = torch.autograd.grad((expected * direction).sum(), levels)
    torch.testing.assert_close(out, expected)
    for grad, expected_grad in zip(grads, expected_grads):
        torch.testing.assert_close(grad, expected_grad)
    assert out.abs().max() > 0 and all(g.abs().max() > 0 for g in grads)


def test_gated_fusion_shapes_and_gate_range():
    torch.manual_seed(4)
    fusion = MODELS.build(dict(type='GatedVolumeFusion', channels=C))
    explicit = torch.randn(2, C, 3, 4, 2, requires_grad=True)
    implicit = torch.randn(2, C, 3, 4, 2, requires_grad=True)
    out = fusion(explicit, implicit)
    assert out.shape == explicit.shape
    gate = fusion.gate_values(explicit, implicit)
    assert ((gate > 0) & (gate < 1)).all()
    torch.testing.assert_close(out, gate * explicit + (1 - gate) * implicit)
    # Convex combination: every output lies between its two inputs.
    lo, hi = torch.minimum(explicit, implicit), torch.maximum(explicit, implicit)
    assert ((out >= lo - 1e-6) & (out <= hi + 1e-6)).all()
    out.sum().backward()
    assert fusion.gate.weight.grad.abs().sum() > 0
