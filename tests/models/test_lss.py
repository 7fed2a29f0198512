"""LSS view transform: shapes, frustum geometry, pooled prior, gradients, camera awareness."""
import math

import pytest
import torch

from mmdet3d.registry import MODELS

import models  # noqa: F401

# Tiny volume: x in [-2, 8), y in [-4, 4), z in [-3, 4) metres, 1 m voxels.
GRID_MIN = (-2.0, -4.0, -3.0)
GRID_SHAPE = (10, 8, 7)
DEPTH_BINS = (1.0, 9.0, 1.0)          # 8 bins, centres 1.5 ... 8.5 m
STRIDE = 4
FEAT_H, FEAT_W = 3, 5                  # augmented image 12 x 20 pixels
CAM_T = (0.3, 0.1, 0.5)                # camera position in the ego frame, metres
# Augmented intrinsics (what the network sees): f = 8, principal point at cell (1, 2)'s centre.
F_AUG, CX_AUG, CY_AUG = 8.0, 9.5, 5.5


def build_vt(**overrides):
    cfg = dict(type='LSSViewTransform', in_channels=8, context_channels=6,
               depth_bins=DEPTH_BINS, grid_min=GRID_MIN, grid_shape=GRID_SHAPE, voxel_size=1.0,
               downsample=STRIDE, mid_channels=16, mlp_hidden_dims=(16,),
               loss_depth=dict(type='DepthLoss', depth_bound=DEPTH_BINS, loss_weight=1.0))
    cfg.update(overrides)
    return MODELS.build(cfg)


def rot_z(yaw):
    c, s = math.cos(yaw), math.sin(yaw)
    return torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)


def camera(yaw=0.0, bev_aug=None):
    """A camera looking along ego +x rotated by ``yaw``; image downscaled x0.5 and shifted.

    Returns float32 (ego2img, cam2img, cam2ego, img_aug), each [4, 4].
    """
    # Camera axes (x right, y down, z forward) in ego coordinates for a +x-facing camera.
    cam_axes = torch.tensor([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]],
                            dtype=torch.float64)
    cam2ego = torch.eye(4, dtype=torch.float64)
    cam2ego[:3, :3] = rot_z(yaw) @ cam_axes
    cam2ego[:3, 3] = torch.tensor(CAM_T, dtype=torch.float64)
    if bev_aug is not None:
        cam2ego = bev_aug @ cam2ego
    # On disk the image is twice as large; img_aug halves it and shifts by -0.5 px so that
    # the augmented intrinsics are (F_AUG, CX_AUG, CY_AUG).
    cam2img = torch.eye(4, dtype=torch.float64)
    cam2img[0, 0] = cam2img[1, 1] = 2 * F_AUG
    cam2img[0, 2], cam2img[1, 2] = 2 * (CX_AUG + 0.5), 2 * (CY_AUG + 0.5)
    img_aug = torch.eye(4, dtype=torch.float64)
    img_aug[0, 0] = img_aug[1, 1] = 0.5
    img_aug[0, 2] = img_aug[1, 2] = -0.5
    ego2img = img_aug @ cam2img @ torch.linalg.inv(cam2ego)
    return tuple(m.float() for m in (ego2img, cam2img, cam2ego, img_aug))


def stack_cameras(cams):
    """list (per sample) of lists (per camera) of camera() tuples -> 4 tensors [B, N, 4, 4]."""
    return tuple(torch.stack([torch.stack([c[i] for c in sample]) for sample in cams])
                 for i in range(4))


def test_output_shapes():
    torch.manual_seed(0)
    vt = build_vt()
    mats = stack_cameras([[camera(0.0), camera(2.0), camera(-2.0)] for _ in range(2)])
    feats = torch.randn(2, 3, 8, FEAT_H, FEAT_W)
    out = vt(feats, *mats)
    assert out['volume'].shape == (2, 6, *GRID_SHAPE)
    assert out['prior'].shape == (2, 1, *GRID_SHAPE)
    assert out['depth'].shape == (6, vt.num_bins, FEAT_H, FEAT_W)
    assert vt.num_bins == 8
    torch.testing.assert_close(out['depth'].sum(1), torch.ones(6, FEAT_H, FEAT_W))
    losses = vt.loss(out['depth'], torch.full((2, 3, FEAT_H, FEAT_W), 3.2))
    assert losses['loss_depth'].dim() == 0 and torch.isfinite(losses['loss_depth'])


def test_frustum_points_reproject_to_cells_and_depths():
    vt = build_vt()
    bev_aug = torch.eye(4, dtype=torch.float64)
    bev_aug[:3, :3] = rot_z(0.7) @ torch.diag(torch.tensor([1.0, -1.0, 1.0],
                                                           dtype=torch.float64))
    ego2img = stack_cameras([[camera(0.3, bev_aug), camera(-1.9, bev_aug)]])[0]
    points = vt.frustum_points(ego2img, FEAT_H, FEAT_W)          # [1, 2, D, h, w, 3]
    assert points.shape == (1, 2, 8, FEAT_H, FEAT_W, 3)
    homo = torch.cat([points, torch.ones_like(points[..., :1])], -1).double()
    proj = torch.einsum('bnij,bndhwj->bndhwi', ego2img.double(), homo)
    depth = proj[..., 2]
    u, v = proj[..., 0] / depth, proj[..., 1] / depth
    centres = torch.arange(8, dtype=torch.float64) * 1.0 + 1.5
    u_ref = torch.arange(FEAT_W, dtype=torch.float64) * STRIDE + (STRIDE - 1) / 2
    v_ref = torch.arange(FEAT_H, dtype=torch.float64) * STRIDE + (STRIDE - 1) / 2
    assert (depth - centres[:, None, None]).abs().max() < 1e-4
    assert (u - u_ref).abs().max() < 1e-4
    assert (v - v_ref[:, None]).abs().max() < 1e-4


def _one_bin_depth(vt, bin_index):
    """Forces the DepthNet to put all probability on ``bin_index`` (exactly, in float32)."""
    last = vt.depth_net.depth_head[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.zero_()
        last.bias[bin_index] = 1000.0   # exp(-1000) underflows to 0: the softmax is one-hot


def test_prior_mass_lands_in_the_voxel_of_each_point():
    torch.manual_seed(0)
    vt = build_vt().eval()
    bin_index = 4                         # centre d = 5.5 m
    _one_bin_depth(vt, bin_index)
    mats = stack_cameras([[camera(0.0)]])
    out = vt(torch.randn(1, 1, 8, FEAT_H, FEAT_W), *mats)
    assert torch.equal(out['depth'][:, bin_index], torch.ones(1, FEAT_H, FEAT_W))

    # Hand un-projection through the augmented pinhole model of the +x camera.
    d = 5.5
    expected = torch.zeros(GRID_SHAPE)
    inside = 0
    for i in range(FEAT_H):
        for j in range(FEAT_W):
            u, v = j * STRIDE + 1.5, i * STRIDE + 1.5
            x_cam, y_cam = (u - CX_AUG) * d / F_AUG, (v - CY_AUG) * d / F_AUG
            ego = (d + CAM_T[0], -x_cam + CAM_T[1], -y_cam + CAM_T[2])
            idx = [math.floor(ego[k] - GRID_MIN[k]) for k in range(3)]
            if all(0 <= idx[k] < GRID_SHAPE[k] for k in range(3)):
                expected[tuple(idx)] += 1
                inside += 1
    assert 0 < inside < FEAT_H * FEAT_W   # some cells fall outside: the test checks culling
    torch.testing.assert_close(out['prior'][0, 0], expected, atol=1e-6, rtol=0)
    # Total mass = number of frustum points inside the grid (one per cell here).
    assert out['prior'].sum().item() == pytest.approx(inside, abs=1e-5)
    # The volume holds the context of those same cells in those voxels and nothing else.
    assert (out['volume'].abs().sum(1)[0][expected == 0] == 0).all()


def test_total_prior_mass_with_soft_depth_counts_inside_points():
    torch.manual_seed(1)
    vt = build_vt().eval()
    mats = stack_cameras([[camera(0.0), camera(1.2)]])
    out = vt(torch.randn(1, 2, 8, FEAT_H, FEAT_W), *mats)
    points = vt.frustum_points(mats[0], FEAT_H, FEAT_W)[0]          # [N, D, h, w, 3]
    lo = torch.tensor(GRID_MIN)
    hi = lo + torch.tensor(GRID_SHAPE, dtype=torch.float32)
    inside = ((points >= lo) & (points < hi)).all(-1)                # [N, D, h, w]
    assert inside.any() and not inside.all()
    expected = out['depth'].reshape(2, 8, FEAT_H, FEAT_W)[inside].sum()
    torch.testing.assert_close(out['prior'].sum(), expected, atol=1e-5, rtol=1e-5)


def test_gradients_reach_the_depth_net():
    torch.manual_seed(0)
    vt = build_vt().train()
    mats = stack_cameras([[camera(0.0), camera(0.4)]])
    out = vt(torch.randn(1, 2, 8, FEAT_H, FEAT_W), *mats)
    gt = torch.zeros(1, 2, FEAT_H, FEAT_W)
    gt[0, 0, 1, 2] = 5.3
    gt[0, 1, 0, 3] = 2.1
    total = out['volume'].sum() + vt.loss(out['depth'], gt)['loss_depth']
    total.backward()
    net = vt.depth_net
    for name, param in net.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name
    for module in (net.reduce[0], net.depth_head[-1], net.context_head, net.depth_mlp[0],
                   net.context_mlp[0]):
        assert module.weight.grad.abs().sum() > 0


def test_camera_aware_mlp_reacts_to_intrinsics():
    torch.manual_seed(0)
    vt = build_vt().eval()
    feats = torch.randn(1, 2, 8, FEAT_H, FEAT_W)
    mats = stack_cameras([[camera(0.0), camera(0.4)]])
    base = vt(feats, *mats)
    ego2img, cam2img, cam2ego, img_aug = (m.clone() for m in mats)
    cam2img[0, 0, 0, 0] *= 1.5                # longer focal length on camera 0
    changed = vt(feats, ego2img, cam2img, cam2ego, img_aug)
    assert not torch.allclose(changed['depth'][0], base['depth'][0])
    # Camera 1's parameters are unchanged (eval-mode BatchNorm): its output is too.
    torch.testing.assert_close(changed['depth'][1], base['depth'][1])


def test_mismatched_loss_bins_rejected():
    with pytest.raises(ValueError, match='bins'):
        build_vt(loss_depth=dict(type='DepthLoss', depth_bound=(1.0, 9.0, 0.5)))


def test_fine_prior_from_upsampled_depth_keeps_the_mass_and_refines_its_place():
    """A prior on a 2x finer grid from depth upsampled 2x: the one-hot depth is constant
    over the image, so upsampling keeps it exact; every sub-cell point carries a quarter of
    its cell's mass, and sum-pooling the fine prior back to the volume grid gives the mass of
    the sub-cell points in each coarse voxel."""
    torch.manual_seed(0)
    vt = build_vt(prior_grid_shape=tuple(2 * s for s in GRID_SHAPE), prior_voxel_size=0.5,
                  prior_upsample=2).eval()
    _one_bin_depth(vt, 4)
    mats = stack_cameras([[camera(0.0)]])
    out = vt(torch.randn(1, 1, 8, FEAT_H, FEAT_W), *mats)
    fine = out['prior'][0, 0]
    assert fine.shape == tuple(2 * s for s in GRID_SHAPE)
    points = vt.frustum_points(mats[0], 2 * FEAT_H, 2 * FEAT_W, STRIDE // 2)[0, 0, 4]
    idx = torch.floor((points - torch.tensor(GRID_MIN)) / 0.5).long()   # [2h, 2w, 3]
    inside = ((idx >= 0) & (idx < torch.tensor(fine.shape))).all(-1)
    expected = torch.zeros_like(fine)
    for i, j, k in idx[inside].tolist():
        expected[i, j, k] += 0.25
    torch.testing.assert_close(fine, expected, atol=1e-6, rtol=0)
    # More, smaller voxels hold mass than on the coarse grid.
    coarse = build_vt().eval()
    coarse.load_state_dict(vt.state_dict())
    coarse_prior = coarse(torch.randn(1, 1, 8, FEAT_H, FEAT_W), *mats)['prior']
    assert (fine > 0).sum() > (coarse_prior > 0).sum()


def test_prior_upsample_must_divide_the_stride():
    with pytest.raises(ValueError, match='prior_upsample'):
        build_vt(prior_upsample=3)
