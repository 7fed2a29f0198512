"""Every config in configs/ loads and builds its model, datasets and metrics."""
import glob
import os

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = sorted(glob.glob(os.path.join(ROOT, 'configs', '**', '*.py'), recursive=True))


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: os.path.relpath(p, ROOT))
def test_config_builds_through_the_registries(path):
    from mmdet3d.registry import DATASETS, METRICS, MODELS
    cfg = Config.fromfile(path)  # runs custom_imports: registers the plugin
    init_default_scope('mmdet3d')
    built = 0
    if 'model' in cfg:
        assert MODELS.build(cfg.model) is not None
        built += 1
    for split in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if split in cfg:
            assert DATASETS.build(cfg[split].dataset) is not None
            built += 1
    for key in ('val_evaluator', 'test_evaluator'):
        if key in cfg:
            evaluators = cfg[key] if isinstance(cfg[key], list) else [cfg[key]]
            assert all(METRICS.build(e) is not None for e in evaluators)
            built += 1
    assert built, f'{path} defines nothing to build'


def test_unknown_metric_type_is_a_clear_error():
    from mmdet3d.registry import METRICS
    import loaders  # noqa: F401
    init_default_scope('mmdet3d')
    with pytest.raises(KeyError, match='NoSuchMetric'):
        METRICS.build(dict(type='NoSuchMetric'))
