"""GD-OCC end to end on a synthetic packed batch: one training step, then inference."""
import math
import os

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmdet3d.registry import MODELS
from mmdet3d.structures import Det3DDataSample

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FREE = 17


def _camera_rig(num_cams, width, height):
    """Six pinhole cameras 1.5 m above the ego origin, yaw 0, 60, ... degrees.

    Returns float32 (cam2img, cam2ego, img_aug) [N, 4, 4]; the camera frame is OpenCV's
    (x right, y down, z forward), the ego frame x forward, y left, z up.
    """
    cam2img = np.eye(4, dtype=np.float32)
    # ~70 degrees horizontal field of view: neighbouring cameras overlap a little.
    focal = width / 2 / math.tan(math.radians(35))
    cam2img[0, 0] = cam2img[1, 1] = focal
    cam2img[0, 2], cam2img[1, 2] = (width - 1) / 2, (height - 1) / 2
    cam2ego = []
    for i in range(num_cams):
        yaw = 2 * math.pi * i / num_cams
        forward = [math.cos(yaw), math.sin(yaw), 0.0]
        right = [math.sin(yaw), -math.cos(yaw), 0.0]
        down = [0.0, 0.0, -1.0]
        pose = np.eye(4, dtype=np.float32)
        pose[:3, :3] = np.array([right, down, forward], dtype=np.float32).T  # columns
        pose[:3, 3] = (0.0, 0.0, 1.5)
        cam2ego.append(pose)
    cam2ego = np.stack(cam2ego)
    cam2img = np.repeat(cam2img[None], num_cams, 0)
    img_aug = np.repeat(np.eye(4, dtype=np.float32)[None], num_cams, 0)
    return cam2img, cam2ego, img_aug


def _packed_batch(cfg, seed=0):
    """One sample as ``PackOccInputs`` emits it: uint8 images [T*6, 3, H, W], metainfo and
    data fields; the T frames share the current frame's cameras (a static ego)."""
    rng = np.random.default_rng(seed)
    width, height = cfg.image_size
    frames, cams = cfg.num_frames, cfg.num_cams
    cam2img, cam2ego, img_aug = _camera_rig(cams, width, height)
    ego2img = img_aug @ cam2img @ np.linalg.inv(cam2ego)
    tile = lambda m: np.tile(m, (frames, 1, 1)).astype(np.float32)       # noqa: E731

    gt = np.full((200, 200, 16), FREE, dtype=np.uint8)
    gt[:, :, 2] = 11                                   # driveable surface at z ~ -0.2 m
    for label, (x, y) in zip((4, 10, 7, 1), ((120, 100), (80, 130), (100, 60), (140, 140))):
        gt[x:x + 8, y:y + 5, 3:7] = label              # a few boxes on the road
    gt_depth = np.zeros((cams, height // 16, width // 16), dtype=np.float32)
    gt_depth[:, -2:, ::3] = rng.uniform(3.0, 30.0, size=gt_depth[:, -2:, ::3].shape)

    sample = Det3DDataSample(metainfo=dict(
        ego2img=tile(ego2img), cam2img=tile(cam2img), cam2ego=tile(cam2ego),
        img_aug=tile(img_aug), img_shape=(height, width), num_views=cams,
        sample_token='synthetic'))
    sample.gt_occ_sem = torch.from_numpy(gt)
    sample.mask_camera = torch.ones(200, 200, 16, dtype=torch.uint8)
    sample.gt_depth = torch.from_numpy(gt_depth)
    img = torch.from_numpy(rng.integers(0, 256, (frames * cams, 3, height, width),
                                        dtype=np.uint8))
    return dict(inputs=dict(img=[img]), data_samples=[sample])


def test_gdocc_trains_every_parameter_and_predicts():
    torch.manual_seed(0)
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', 'toy_gdocc.py'))
    init_default_scope('mmdet3d')
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()

    data = model.data_preprocessor(_packed_batch(cfg), True)
    assert data['inputs']['imgs'].shape == (1, cfg.num_frames * cfg.num_cams, 3,
                                            cfg.image_size[1], cfg.image_size[0])
    losses = model(**data, mode='loss')
    for key in ('loss_depth', 'loss_cls', 'loss_mask', 'loss_dice', 'loss_lovasz'):
        assert key in losses, key
    assert all(f'loss_proposal_l{l}' in losses for l in range(4))
    loss, _ = model.parse_losses(losses)
    for name, value in losses.items():
        assert torch.isfinite(value.detach()).all(), (name, value)
    assert torch.isfinite(loss.detach())
    loss.backward()
    # find_unused_parameters=False in DDP needs every trainable parameter in the graph.
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f'parameters without gradient: {missing}'
    nonfinite = [n for n, p in model.named_parameters()
                 if p.grad is not None and not torch.isfinite(p.grad).all()]
    assert not nonfinite, nonfinite
    # Non-None is not enough to catch a detached branch (a zero-weight path still yields a
    # grad); outside the backbone every gradient must be non-zero. Inside it, mmdet's
    # zero_init_residual zeroes each block's last BN, so the block's other layers
    # legitimately get zero gradients on the first step.
    zero = [n for n, p in model.named_parameters() if p.requires_grad
            and not n.startswith('img_encoder.backbone.') and not p.grad.abs().sum() > 0]
    assert not zero, f'parameters with an all-zero gradient: {zero}'

    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(_packed_batch(cfg, seed=1), False)
        results = model(**data, mode='predict')
    assert len(results) == 1
    pred = results[0].pred_occ_sem
    assert isinstance(pred, np.ndarray) and pred.dtype == np.uint8
    assert pred.shape == (200, 200, 16)
    assert pred.min() >= 0 and pred.max() <= FREE
    # Only the kept voxels (topk_test[-1]) can be non-free.
    assert (pred != FREE).sum() <= cfg.model.proposal.topk_test[-1]
    # The metric reads the prediction next to the ground truth.
    assert 'gt_occ_sem' in results[0] and 'mask_camera' in results[0]
