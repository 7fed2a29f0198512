"""GD-OCC end to end on a synthetic packed batch: one training step, then inference."""
import os

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmdet3d.registry import MODELS

from tools.shared.synthetic_batch import packed_sample

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FREE = 17


def _packed_batch(cfg, seed=0):
    """A batch of one synthetic sample (``tools.shared.synthetic_batch``) at the config's sizes."""
    sample = packed_sample(cfg.num_frames, cfg.num_cams, cfg.image_size, seed=seed)
    return dict(inputs=dict(img=[sample['inputs']['img']]),
                data_samples=[sample['data_samples']])


def _toy_model():
    """configs/toy_gdocc.py and its model, seeded, initialised, in training mode."""
    torch.manual_seed(0)
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', 'toy_gdocc.py'))
    init_default_scope('mmdet3d')
    model = MODELS.build(cfg.model)
    model.init_weights()
    return cfg, model.train()


def test_gdocc_trains_every_parameter_and_predicts():
    cfg, model = _toy_model()

    data = model.data_preprocessor(_packed_batch(cfg), True)
    assert data['inputs']['imgs'].shape == (1, cfg.num_frames * cfg.num_cams, 3,
                                            cfg.image_size[1], cfg.image_size[0])
    losses = model(**data, mode='loss')
    for key in ('loss_depth', 'loss_cls', 'loss_mask', 'loss_dice', 'd0.loss_cls'):
        assert key in losses, key
    for stage in range(3):
        for name in ('ce', 'lovasz', 'geo_scal', 'sem_scal'):
            assert f'loss_{name}_s{stage}' in losses, (name, stage)
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
    assert (pred != FREE).sum() <= cfg.model.decoder.topk_test[-1]
    # The metric reads the prediction next to the ground truth.
    assert 'gt_occ_sem' in results[0] and 'mask_camera' in results[0]


def test_padded_images_are_rejected():
    """An image size the preprocessor pads (not divisible by pad_size_divisor) would
    misalign the samplers and the depth targets: one clear error instead."""
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', 'toy_gdocc.py'))
    init_default_scope('mmdet3d')
    model = MODELS.build(cfg.model).eval()
    width, height = cfg.image_size                # multiples of pad_size_divisor = 32
    sample = packed_sample(cfg.num_frames, cfg.num_cams, (width - 8, height - 8))
    batch = dict(inputs=dict(img=[sample['inputs']['img']]), data_samples=[sample['data_samples']])
    data = model.data_preprocessor(batch, False)
    assert data['inputs']['imgs'].shape[-2:] == (height, width)
    with pytest.raises(ValueError, match=rf'padded to \({height}, {width}\).*pad_size_divisor'):
        model(**data, mode='predict')


def test_one_training_step_and_inference_under_bfloat16_autocast():
    """CPU autocast casts the projections' matmuls to bfloat16, as CUDA AMP casts to
    float16: every op must take the reduced-precision inputs (the sampling casts to float32
    at its boundary) and the losses stay finite."""
    cfg, model = _toy_model()
    data = model.data_preprocessor(_packed_batch(cfg), True)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        losses = model(**data, mode='loss')
        loss, _ = model.parse_losses(losses)
    for name, value in losses.items():
        assert torch.isfinite(value.detach().float()).all(), (name, value)
    loss.backward()
    model.eval()
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        data = model.data_preprocessor(_packed_batch(cfg, seed=1), False)
        results = model(**data, mode='predict')
    assert results[0].pred_occ_sem.shape == (200, 200, 16)


def test_the_model_takes_grid_and_classes_from_the_data():
    """The data's grid reaches every module (the view transforms on the coarse grid) and
    its class list the decoder and the head; a module stating another value is refused."""
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', 'toy_gdocc_coarse_merged.py'))
    init_default_scope('mmdet3d')
    model = MODELS.build(cfg.model)
    assert model.decoder.grid_shape == model.occ_head.grid_shape == (100, 100, 8)
    assert model.decoder.voxel_size == model.occ_head.voxel_size == 0.8
    assert model.lss.grid_shape == model.implicit.grid_shape == (25, 25, 2)
    assert model.lss.voxel_size == model.implicit.voxel_size == (3.2, 3.2, 3.2)
    assert model.lss.prior_grid_shape == (100, 100, 8)
    assert model.decoder.num_classes == model.occ_head.num_classes == 9
    assert model.decoder.classifiers[0].out_features == 10
    paper = Config.fromfile(os.path.join(ROOT, 'configs', 'r50_nuimg_704x256_8f.py')).model
    assert paper.occ_grid == dict(grid_min=[-40.0, -40.0, -1.0], voxel_size=0.4,
                                  grid_shape=[200, 200, 16])
    cfg.model.decoder.grid_shape = (200, 200, 16)
    with pytest.raises(ValueError, match=r'decoder.grid_shape=\(200, 200, 16\) differs'):
        MODELS.build(cfg.model)
