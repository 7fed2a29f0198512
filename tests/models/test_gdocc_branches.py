"""GDOcc with view-transform branches switched off (the ablation configs' model options)."""
import os

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmdet3d.registry import MODELS

from tools.shared.synthetic_batch import packed_sample

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONTEXT_PATH = ('lss.depth_net.context_mlp', 'lss.depth_net.context_gate',
                'lss.depth_net.context_head')

VARIANTS = {
    'explicit_only': (dict(implicit=None, fusion=None), ()),
    # The LSS volume is unused: only the DepthNet's context path goes without gradient.
    'implicit_only': (dict(use_lss_volume=False, fusion=None), CONTEXT_PATH),
    'no_geometry': (dict(implicit=dict(use_depth_weight=False),
                         decoder=dict(use_depth_weight=False, use_prior=False)), ()),
    'no_lss': (dict(lss=None, stereo_level=None, fusion=None,
                    implicit=dict(use_depth_weight=False),
                    decoder=dict(use_depth_weight=False, use_prior=False)), ()),
    'no_refine': (dict(decoder=dict(refine=False)), ()),
    # SparseOcc's zero start: no implicit branch, and the LSS volume feeds nothing.
    'zero_init': (dict(implicit=None, fusion=None, decoder=dict(init_from_volume=False)),
                  CONTEXT_PATH),
    # SparseOcc itself (configs/sparseocc_r50_nuimg_704x256_8f.py's overrides): no view
    # transform at all, no depth loss.
    'sparseocc': (dict(lss=None, lss_level=None, stereo_level=None, implicit=None, fusion=None,
                       decoder=dict(init_from_volume=False, use_prior=False,
                                    use_depth_weight=False)), ()),
}


def _model(overrides):
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', 'toy_gdocc.py'))
    cfg.merge_from_dict(dict(model=overrides))
    init_default_scope('mmdet3d')
    return cfg, MODELS.build(cfg.model)


def _data(model, cfg, training):
    sample = packed_sample(cfg.num_frames, cfg.num_cams, cfg.image_size)
    return model.data_preprocessor(dict(inputs=dict(img=[sample['inputs']['img']]),
                                        data_samples=[sample['data_samples']]), training)


@pytest.mark.parametrize('name', list(VARIANTS))
def test_branch_variant_trains_and_predicts(name):
    overrides, no_grad_prefixes = VARIANTS[name]
    torch.manual_seed(0)
    cfg, model = _model(overrides)
    model.init_weights()
    model.train()
    losses = model(**_data(model, cfg, True), mode='loss')
    assert ('loss_depth' in losses) == (name not in ('no_lss', 'sparseocc'))
    loss, _ = model.parse_losses(losses)
    assert torch.isfinite(loss.detach())
    loss.backward()
    missing = sorted(n for n, p in model.named_parameters()
                     if p.requires_grad and p.grad is None)
    assert all(n.startswith(no_grad_prefixes) for n in missing), missing
    assert bool(missing) == bool(no_grad_prefixes), missing

    model.eval()
    with torch.no_grad():
        pred = model(**_data(model, cfg, False), mode='predict')[0].pred_occ_sem
    assert pred.shape == (200, 200, 16) and pred.dtype == np.uint8


@pytest.mark.parametrize('overrides, match', [
    (dict(fusion=None), 'fusion'),                                # both volumes, no fusion
    (dict(implicit=None), 'fusion'),                              # one volume, a fusion
    (dict(use_lss_volume=False, implicit=None, fusion=None), 'no volume'),
    (dict(lss=None, fusion=None), 'use_depth_weight'),
    (dict(lss=None, fusion=None, implicit=dict(use_depth_weight=False)), 'use_prior'),
    (dict(stereo_level=None), 'stereo'),                          # a stereo cost, no level
    (dict(decoder=dict(num_frames=3)), r'decoder.num_frames=3 differs .* num_frames=2'),
])
def test_inconsistent_branches_are_rejected(overrides, match):
    with pytest.raises(ValueError, match=match):
        _model(overrides)


def test_the_model_hands_its_frames_to_the_decoder_and_the_head():
    cfg, model = _model({})
    assert cfg.model.num_frames == cfg.num_frames == 2
    stated = dict(cfg.model, num_frames=None, decoder=dict(cfg.model.decoder, num_frames=2),
                  occ_head=dict(cfg.model.occ_head, num_frames=2))
    shapes = {k: v.shape for k, v in MODELS.build(stated).state_dict().items()}
    assert {k: v.shape for k, v in model.state_dict().items()} == shapes
    one_frame = dict(stated, decoder=dict(stated['decoder'], num_frames=1))
    assert {k: v.shape for k, v in MODELS.build(one_frame).state_dict().items()} != shapes
