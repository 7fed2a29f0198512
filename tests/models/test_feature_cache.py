"""Online temporal inference: cached per-view image features give the uncached result."""
import os

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmdet3d.registry import MODELS

from models.utils import ImageFeatureCache
from tools.shared.synthetic_batch import packed_sample

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _batch(cfg, frame_ids):
    sample = packed_sample(cfg.num_frames, cfg.num_cams, cfg.image_size, frame_ids=frame_ids)
    return dict(inputs=dict(img=[sample['inputs']['img']]),
                data_samples=[sample['data_samples']])


def test_lru_keeps_the_most_recent_views():
    cache = ImageFeatureCache(2)
    for key in 'abc':
        cache.put(key, [torch.zeros(1)])
    assert len(cache) == 2 and cache.get('a') is None
    cache.get('b')            # b is now more recent than c
    cache.put('d', [torch.ones(1)])
    assert cache.get('c') is None and cache.get('b') is not None
    with pytest.raises(ValueError):
        ImageFeatureCache(0)


def test_consecutive_samples_reuse_past_frames_with_identical_predictions():
    torch.manual_seed(0)
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', 'toy_gdocc.py'))
    init_default_scope('mmdet3d')
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.eval()
    encoded = []
    encode = model.img_encoder.encode
    model.img_encoder.encode = lambda images: encoded.append(len(images)) or encode(images)
    views = cfg.num_frames * cfg.num_cams
    # Sample 2's past frame (frame 1) is sample 1's current frame.
    frames = [[1 - t for t in range(cfg.num_frames)], [2 - t for t in range(cfg.num_frames)]]

    def run(cached):
        model.test_feature_cache = cached
        model.train(False)  # empties the cache
        preds, feats = [], []
        with torch.no_grad():
            for ids in frames:
                data = model.data_preprocessor(_batch(cfg, ids), False)
                out = model.extract_feat(data['inputs'], data['data_samples'])
                feats.append(out['decoder']['feats'])
                preds.append(model(**data, mode='predict')[0].pred_occ_sem)
        return preds, feats

    plain_preds, plain_feats = run(False)
    assert sum(encoded) == 4 * views  # extract_feat + predict, two samples
    encoded.clear()
    cached_preds, cached_feats = run(True)
    # Sample 1: every view encoded once, then all cached; sample 2: only its new frame.
    assert encoded == [views, cfg.num_cams]
    for plain, cached in zip(plain_feats, cached_feats):
        assert torch.allclose(plain, cached, atol=1e-5)
    for plain, cached in zip(plain_preds, cached_preds):
        assert np.array_equal(plain, cached)
    # Bounded by one sample's views (feature_cache_views None): the oldest frame went.
    assert len(model.feature_cache) == views
    model.train()
    assert len(model.feature_cache) == 0
