"""Every config in configs/ loads and builds its model, datasets and metrics; the base
fragments in configs/_base_/ load alone and combine (mmengine refuses duplicate keys among
bases)."""
import glob
import os
import textwrap

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = sorted(glob.glob(os.path.join(ROOT, 'configs', '**', '*.py'), recursive=True))
BASE = os.path.join(ROOT, 'configs', '_base_')
# Complete configs; the fragments under _base_ may define nothing to build (runtime).
TOP_CONFIGS = [p for p in CONFIGS if not p.startswith(BASE + os.sep)]
BASES = [p for p in CONFIGS if p.startswith(BASE + os.sep)]


def _build_all(cfg):
    """Builds the model, datasets and evaluators a config defines; returns how many."""
    from mmdet3d.registry import DATASETS, METRICS, MODELS
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
    return built


@pytest.mark.parametrize('path', TOP_CONFIGS, ids=lambda p: os.path.relpath(p, ROOT))
def test_config_builds_through_the_registries(path):
    cfg = Config.fromfile(path)  # runs custom_imports: registers the plugin
    assert 'custom_imports' in cfg, f'{path} does not register the plugin'
    assert _build_all(cfg), f'{path} defines nothing to build'


@pytest.mark.parametrize('path', BASES, ids=lambda p: os.path.relpath(p, ROOT))
def test_base_fragment_loads_and_builds(path):
    import evaluation  # noqa: F401 -- the fragments import nothing
    import loaders  # noqa: F401
    import models  # noqa: F401
    _build_all(Config.fromfile(path))


@pytest.mark.parametrize('dataset', ['occ3d_nuscenes', 'toy_nuscenes'])
def test_dataset_evaluation_and_runtime_bases_combine(tmp_path, dataset):
    path = tmp_path / 'combined.py'
    path.write_text(textwrap.dedent(f"""
        _base_ = ['{BASE}/datasets/{dataset}.py', '{BASE}/occ3d_evaluation.py',
                  '{BASE}/default_runtime.py']
    """))
    cfg = Config.fromfile(str(path))
    assert cfg.custom_imports.imports == ['models', 'loaders', 'evaluation']
    assert cfg.default_scope == 'mmdet3d' and cfg.val_evaluator.type == 'OccupancyMetric'
    assert len(cfg.occ_class_names) == 18 and cfg.occ_class_names[-1] == 'free'
    assert _build_all(cfg) == 5  # 3 datasets, 2 evaluators


def _steps(cfg, split):
    """{step name: type and arguments} of a config's dataloader pipeline (named steps)."""
    return {name: dict(step) for name, step in cfg[split].dataset.pipeline.items()
            if step is not None}


def test_variants_change_the_base_pipelines_by_step_name():
    load = lambda name: Config.fromfile(os.path.join(ROOT, 'configs', name))  # noqa: E731
    paper, panoptic, sparseocc = (load('r50_nuimg_704x256_8f.py'),
                                  load('r50_nuimg_704x256_8f_panoptic.py'),
                                  load('sparseocc_r50_nuimg_704x256_8f.py'))
    for split in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        expected = _steps(paper, split)
        expected['load_occupancy'] = dict(expected['load_occupancy'], with_instances=True)
        assert _steps(panoptic, split) == expected
    expected = _steps(paper, 'train_dataloader')
    del expected['depth_target']
    assert _steps(sparseocc, 'train_dataloader') == expected
    assert _steps(sparseocc, 'val_dataloader') == _steps(paper, 'val_dataloader')
    assert list(_steps(paper, 'train_dataloader')) == [
        'load_images', 'load_occupancy', 'image_aug', 'photometric_aug', 'bev_aug',
        'depth_target', 'pack']


@pytest.mark.parametrize('path', TOP_CONFIGS, ids=lambda p: os.path.relpath(p, ROOT))
def test_frames_come_from_the_dataset_base(path):
    cfg = Config.fromfile(path)
    frames = cfg.num_frames
    for split in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert _steps(cfg, split)['load_images']['num_frames'] == frames
        assert cfg[split].dataset.max_past_frames == (
            (frames - 1) * max(cfg.train_frame_interval))
    assert cfg.model.num_frames == frames     # the model hands it to the decoder and head
    assert 'num_frames' not in cfg.model.decoder and 'num_frames' not in cfg.model.occ_head


def test_unknown_metric_type_is_a_clear_error():
    from mmdet3d.registry import METRICS

    import evaluation  # noqa: F401
    init_default_scope('mmdet3d')
    with pytest.raises(KeyError, match='NoSuchMetric'):
        METRICS.build(dict(type='NoSuchMetric'))


def test_paper_config_settings_and_size():
    from mmdet3d.registry import MODELS
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', 'r50_nuimg_704x256_8f.py'))
    init_default_scope('mmdet3d')
    assert cfg.num_frames == 8 and tuple(cfg.image_size) == (704, 256)
    assert cfg.total_batch_size == 8 and cfg.train_dataloader.batch_size == 1
    optim = cfg.optim_wrapper
    assert optim.optimizer.lr == 5e-4 and optim.optimizer.weight_decay == 0.01
    assert optim.paramwise_cfg.custom_keys['img_encoder.backbone'].lr_mult == 0.1
    # SparseOcc's x0.1 reaches the decoder's sampling offsets, not the head's.
    assert optim.paramwise_cfg.custom_keys['sampling.sampling_offsets'].lr_mult == 0.1
    assert optim.clip_grad.max_norm == 35 and optim.type == 'OptimWrapper'
    step = cfg.param_scheduler[-1]
    assert step.milestones == [22] and step.gamma == 0.2 and cfg.max_epochs == 24
    assert cfg.model.img_encoder.get('num_grad_frames') is None    # every frame trains
    assert cfg.model.img_encoder.init_cfg.type == 'Pretrained'
    model = MODELS.build(cfg.model)
    assert model.lss.num_bins == 88 and model.occ_head.num_queries == 100
    assert model.decoder.shapes == [(25, 25, 2), (50, 50, 4), (100, 100, 8), (200, 200, 16)]
    assert model.decoder.topk_train == [4000, 16000, 64000]
    assert model.decoder.topk_test == [2000, 8000, 32000]
    assert model.loss_mask_key is None
    slow = [n for n, _ in model.named_parameters() if 'sampling.sampling_offsets' in n]
    assert slow and all(n.startswith('decoder.') for n in slow)
    assert 'occ_head.layer.sampling_offsets.weight' not in slow
    # The figure the README gives.
    assert round(sum(p.numel() for p in model.parameters()) / 1e6, 2) == 85.99


@pytest.mark.parametrize('path', TOP_CONFIGS, ids=lambda p: os.path.relpath(p, ROOT))
def test_grid_and_classes_come_from_the_dataset_base(path):
    """One grid and one class list per config: the model's, the pipeline's and the dataset
    metainfo's (which the evaluator reads) are the dataset base's."""
    cfg = Config.fromfile(path)
    grid, names = cfg.occ_grid, list(cfg.occ_class_names)
    assert cfg.model.occ_grid == grid and list(cfg.model.class_names) == names
    for split in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        meta = cfg[split].dataset.metainfo
        assert meta.occ_grid == grid and list(meta.classes) == names
        load = _steps(cfg, split)['load_occupancy']
        assert load['num_classes'] == len(names)
        assert list(load['grid_shape']) == list(grid.grid_shape)
    assert _steps(cfg, 'train_dataloader')['bev_aug']['occ_grid'] == grid
