"""Image encoder: ResNet18 + FPN over views, past frames without gradient, the nuImages
checkpoint."""
import pytest
import torch

from mmdet3d.registry import MODELS

import models  # noqa: F401


def _cfg(num_grad_frames=1):
    return dict(
        type='ImageEncoder', num_cams=2, num_grad_frames=num_grad_frames,
        backbone=dict(type='mmdet.ResNet', depth=18, num_stages=4, out_indices=(1, 2, 3),
                      frozen_stages=1, norm_eval=True, with_cp=False, style='pytorch',
                      norm_cfg=dict(type='BN', requires_grad=True)),
        neck=dict(type='mmdet.FPN', in_channels=[128, 256, 512], out_channels=16, num_outs=3))


def test_shapes_and_past_frames_without_gradient():
    torch.manual_seed(0)
    encoder = MODELS.build(_cfg()).train()
    img = torch.randn(1, 2 * 2, 3, 64, 176)
    levels = encoder(img)
    assert [tuple(lv.shape) for lv in levels] == [(1, 4, 16, 8, 22), (1, 4, 16, 4, 11),
                                                  (1, 4, 16, 2, 6)]
    # Only past-frame outputs in the loss: nothing reaches the weights.
    sum(lv[:, 2:].sum() for lv in levels).backward(retain_graph=True)
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in encoder.parameters())
    # Current frame: the unfrozen weights get gradients, stage 1 (frozen) does not.
    sum(lv[:, :2].sum() for lv in levels).backward()
    assert encoder.backbone.layer4[0].conv1.weight.grad.abs().sum() > 0
    assert encoder.backbone.layer1[0].conv1.weight.grad is None


def test_all_frames_with_gradient_match_split_encoding():
    torch.manual_seed(0)
    split = MODELS.build(_cfg(num_grad_frames=1)).eval()
    full = MODELS.build(_cfg(num_grad_frames=2)).eval()
    full.load_state_dict(split.state_dict())
    img = torch.randn(1, 4, 3, 64, 176)
    for a, b in zip(split(img), full(img)):
        assert torch.allclose(a, b, atol=1e-5)
    with pytest.raises(ValueError, match='cameras'):
        split(torch.randn(1, 3, 3, 64, 176))


def test_pretrained_detector_checkpoint_lands_in_the_detector_encoder(tmp_path):
    """The paper config's way of loading the nuImages detector: a Pretrained init_cfg on
    the encoder maps the checkpoint's ``backbone.*`` / ``neck.*`` onto
    ``img_encoder.backbone.*`` / ``img_encoder.neck.*`` through GDOcc.init_weights."""
    import os

    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    cfg = Config.fromfile(os.path.join(root, 'configs', 'toy_gdocc.py'))
    init_default_scope('mmdet3d')
    torch.manual_seed(0)
    donor = MODELS.build(cfg.model.img_encoder)  # R18 + FPN of the toy config's shapes
    fake = {f'{part}.{k}': torch.randn_like(v.float()).to(v.dtype) if v.is_floating_point()
            else v for part in ('backbone', 'neck')
            for k, v in getattr(donor, part).state_dict().items()}
    fake['roi_head.bbox_head.0.fc_cls.weight'] = torch.zeros(11, 1024)  # detector-only key
    path = tmp_path / 'fake_nuim_detector.pth'
    torch.save(dict(state_dict=fake, meta=dict()), path)

    cfg.model.img_encoder.init_cfg = dict(type='Pretrained', checkpoint=str(path))
    model = MODELS.build(cfg.model)
    model.init_weights()
    state = model.state_dict()
    for key, value in fake.items():
        if key.startswith(('backbone.', 'neck.')):
            assert torch.equal(state['img_encoder.' + key], value), key
    assert not any(k.startswith('roi_head') or k.startswith('img_encoder.roi_head')
                   for k in state)
