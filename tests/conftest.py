"""Shared fixtures: a tiny toy nuScenes world (generated once per session), its infos, a
small GD-OCC config on it and an initialised checkpoint of that config."""
import os
import subprocess
import sys

import pytest

from tools import create_data

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOY_GENERATOR = os.path.join(ROOT, 'tools', 'make_toy_nuscenes.py')
# Two scenes (one train, one val) of three keyframes with one camera sweep between
# keyframes, 160 x 90 images: about 10 s to generate on two cores.
TOY_OPTIONS = dict(scenes=2, frames_per_scene=3, sweeps=1, image_size=(160, 90), val_scenes=1)


def pytest_configure(config):
    config.addinivalue_line('markers', 'toy_world: uses the generated toy nuScenes world')
    config.addinivalue_line('markers', 'torchrun: starts 2 processes with torchrun '
                                       '(gloo on CPU)')


@pytest.fixture(scope='session')
def toy_options():
    """The generator options of :func:`toy_world` (dict)."""
    return dict(TOY_OPTIONS)


@pytest.fixture(scope='session')
def toy_world(tmp_path_factory):
    """Path of a freshly generated tiny toy world (nuScenes layout, no infos)."""
    out = tmp_path_factory.mktemp('toy') / 'world'
    # The generator's command line is its stable interface (the flags).
    width, height = TOY_OPTIONS['image_size']
    subprocess.run([sys.executable, TOY_GENERATOR, '--out', str(out), '--no-progress',
                    '--scenes', str(TOY_OPTIONS['scenes']),
                    '--frames-per-scene', str(TOY_OPTIONS['frames_per_scene']),
                    '--sweeps', str(TOY_OPTIONS['sweeps']),
                    '--image-size', str(width), str(height),
                    '--val-scenes', str(TOY_OPTIONS['val_scenes'])],
                   check=True, stdout=subprocess.DEVNULL)
    return str(out)


@pytest.fixture(scope='session')
def toy_root(toy_world):
    """The toy world with ``nuscenes_infos_{train,val}_sweep.pkl`` written into it."""
    create_data.create_infos(toy_world, progress=False)
    return toy_world


# configs/toy_gdocc.py at test size: 160 x 64 images, in-process data loading, no validation
# during training (the tests evaluate with val.py).
SMALL_GDOCC = """
_base_ = [{base!r}]
data_root = {data_root!r}
image_size = (160, 64)
train_pipeline = [
    dict(type='LoadMultiViewImages', num_frames=2, interval=[2, 3], color_order='rgb'),
    dict(type='LoadOccupancy'),
    dict(type='ImageAug3D', final_size=image_size, resize_range=(0.9, 1.1),
         bottom_crop_range=(0.0, 0.0), flip_prob=0.5, rotation_range=(0.0, 0.0)),
    dict(type='BEVAug', flip_x_prob=0.5, flip_y_prob=0.5, rotation_range=(0.0, 0.0)),
    dict(type='LiDARDepthTarget', stride=16, depth_range=(1.0, 45.0), load_dim=5),
    dict(type='PackOccInputs'),
]
test_pipeline = [
    dict(type='LoadMultiViewImages', num_frames=2, interval=3, color_order='rgb'),
    dict(type='LoadOccupancy'),
    dict(type='ImageAug3D', final_size=image_size, bottom_crop_range=(0.0, 0.0),
         test_mode=True),
    dict(type='PackOccInputs'),
]
train_dataloader = dict(batch_size=1, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root, pipeline=train_pipeline))
test_dataloader = dict(batch_size=1, num_workers=0, persistent_workers=False,
                       dataset=dict(data_root=data_root, pipeline=test_pipeline))
val_dataloader = None
val_cfg = None
val_evaluator = None
default_hooks = dict(logger=dict(type='LoggerHook', interval=1))
train_cfg = dict(max_epochs=1)
"""


@pytest.fixture(scope='session')
def small_gdocc_config(toy_root, tmp_path_factory):
    """Path of ``configs/toy_gdocc.py`` at test size on :func:`toy_root` (1 process: 3
    training iterations per epoch, 3 test samples)."""
    path = tmp_path_factory.mktemp('gdocc_cfg') / 'small_gdocc.py'
    path.write_text(SMALL_GDOCC.format(base=os.path.join(ROOT, 'configs', 'toy_gdocc.py'),
                                       data_root=toy_root + os.sep))
    return str(path)


@pytest.fixture(scope='session')
def gdocc_weights(small_gdocc_config, tmp_path_factory):
    """A freshly initialised GD-OCC checkpoint (seeded): evaluation needs no training."""
    import torch
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from mmdet3d.registry import MODELS

    cfg = Config.fromfile(small_gdocc_config)
    init_default_scope('mmdet3d')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    path = tmp_path_factory.mktemp('gdocc_weights') / 'init.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    return path
