"""GD-OCC learns: overfitting one toy-world sample drives the losses down and gives a
grid whose RayIoU on that sample is far above an all-free prediction."""
import os

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

from mmdet3d.registry import DATASETS, MODELS

from evaluation.ray_metrics import main_rayiou

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FREE = 17
STEPS = 120


def _overfit_config(data_root):
    """The toy config shrunk to the test world: 160 x 64 images, fewer kept voxels."""
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', 'toy_gdocc.py'))
    dataset = cfg.val_dataloader.dataset
    dataset.data_root = data_root
    dataset.ann_file = 'nuscenes_infos_train_sweep.pkl'
    steps = dataset.pipeline          # named steps, in order
    steps.image_aug.final_size = (160, 64)
    steps.load_images.interval = 2    # the test world has one sweep between keyframes
    # The test pipeline plus the depth target: no augmentation, the same sample every step.
    pack = steps.pop('pack')
    steps.update(depth_target=cfg.depth_target, pack=pack)
    topk = (1000, 3000, 8000)
    cfg.model.decoder.topk_train = cfg.model.decoder.topk_test = topk
    return cfg


@pytest.mark.toy_world
def test_overfitting_one_sample_learns_a_non_trivial_grid(toy_root):
    torch.manual_seed(0)
    cfg = _overfit_config(toy_root)
    init_default_scope('mmdet3d')
    dataset = DATASETS.build(cfg.val_dataloader.dataset)
    batch = pseudo_collate([dataset[0]])
    model = MODELS.build(cfg.model)
    model.init_weights()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-2)

    history = []
    model.train()
    for _ in range(STEPS):
        data = model.data_preprocessor(batch, True)
        losses = model.loss(data['inputs'], data['data_samples'])
        total = sum(losses.values())
        optimizer.zero_grad()
        total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 35)
        optimizer.step()
        history.append(total.item())
    assert np.isfinite(history).all()
    assert np.mean(history[-3:]) < 0.4 * np.mean(history[:3]), history

    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(batch, False)
        sample = model.predict(data['inputs'], data['data_samples'])[0]
    gt = np.asarray(sample.gt_occ_sem, dtype=np.uint8)
    pred = sample.pred_occ_sem
    assert pred.dtype == np.uint8 and pred.shape == gt.shape
    origins = np.asarray(sample.ray_origins, dtype=np.float32)
    learned = main_rayiou([pred], [gt], [origins], verbose=False)['RayIoU']
    all_free = main_rayiou([np.full_like(gt, FREE)], [gt], [origins], verbose=False)['RayIoU']
    assert all_free == 0.0
    # Measured on the LiDAR-built toy labels (2026-12-04, free_threshold 0.1 of the toy
    # config, SparseOcc's sampling conventions): 0.412 / 0.349 / 0.358 for seeds 0 / 1 / 2
    # after 120 steps; seed 0 under ATEN_CPU_CAPABILITY=default / avx2: 0.398 / 0.372 (60
    # steps left 0.058-0.101: surfaces only are harder to fit than the old solid boxes). An
    # all-free grid scores 0; the bound sits below half the lowest measurement.
    assert learned > 0.15, learned
