"""The grid and the class names are configuration: configs/toy_gdocc_coarse_merged.py (the
toy world labelled on 100 x 100 x 8 voxels of 0.8 m, Occ3D's classes merged into 9) trains
an epoch, validates and renders through the entry points, with no code change."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.subprocesses import ROOT, script_env
from tools import create_data

pytestmark = pytest.mark.toy_world

CONFIG = os.path.join(ROOT, 'configs', 'toy_gdocc_coarse_merged.py')
MERGED = ['others', 'barrier', 'two_wheeler', 'vehicle', 'pedestrian', 'traffic_cone',
          'ground', 'manmade', 'vegetation']
# The config at test size (as tests/conftest.py's SMALL_GDOCC): one epoch of the 3 train
# keyframes, then validation on the 3 val keyframes, metrics written to a JSON file.
SMALL = """
_base_ = [{base!r}]
data_root = {data_root!r}
image_size = (160, 64)
train_pipeline = dict(image_aug=dict(final_size=image_size))
test_pipeline = dict(image_aug=dict(final_size=image_size))
train_dataloader = dict(batch_size=1, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(out_file={metrics!r})
default_hooks = dict(logger=dict(interval=1))
train_cfg = dict(max_epochs=1, val_interval=1)
"""


@pytest.fixture(scope='module')
def coarse_root(tmp_path_factory, toy_options):
    """A tiny toy world labelled on the 0.8 m grid, with its infos."""
    out = tmp_path_factory.mktemp('toy_coarse') / 'world'
    width, height = toy_options['image_size']
    subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'make_toy_nuscenes.py'),
                    '--out', str(out), '--no-progress',
                    '--scenes', str(toy_options['scenes']),
                    '--frames-per-scene', str(toy_options['frames_per_scene']),
                    '--sweeps', str(toy_options['sweeps']), '--image-size', str(width),
                    str(height), '--val-scenes', str(toy_options['val_scenes']),
                    '--occ-voxel-size', '0.8', '--occ-shape', '100', '100', '8'],
                   check=True, stdout=subprocess.DEVNULL)
    create_data.create_infos(str(out), progress=False)
    return str(out)


@pytest.fixture(scope='module')
def trained(coarse_root, tmp_path_factory):
    tmp = tmp_path_factory.mktemp('coarse_run')
    config = tmp / 'small_coarse.py'
    config.write_text(SMALL.format(base=CONFIG, data_root=coarse_root + os.sep,
                                   metrics=str(tmp / 'metrics.json')))
    result = subprocess.run([sys.executable, os.path.join(ROOT, 'train.py'), '--config',
                             str(config), '--work-dir', str(tmp / 'work')], cwd=ROOT,
                            env=script_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    return tmp, config


def test_the_world_is_labelled_on_the_configured_grid(coarse_root):
    label_files = [os.path.join(d, f) for d, _, files in os.walk(coarse_root) for f in files
                   if f == 'labels.npz']
    assert label_files
    with np.load(label_files[0]) as labels:
        assert labels['semantics'].shape == (100, 100, 8)
        assert labels['mask_camera'].shape == (100, 100, 8)


def test_trains_an_epoch_and_validates_with_the_merged_classes(trained):
    tmp, _ = trained
    assert (tmp / 'work' / 'epoch_1.pth').exists()
    metrics = json.loads((tmp / 'metrics.json').read_text())
    assert list(metrics['per_class_RayIoU']) == MERGED
    assert metrics['num_samples'] == 3
    assert 0.0 <= metrics['RayIoU'] <= 1.0 and 0.0 <= metrics['mIoU'] <= 100.0


def test_renders_figures_and_pages_on_the_configured_grid(trained, monkeypatch):
    from PIL import Image

    import viz_prediction

    tmp, config = trained
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    common = ['--config', str(config), '--weights', str(tmp / 'work' / 'epoch_1.pth'),
              '--work-dir', str(tmp / 'viz_work'), '--num', '1', '--no-progress']
    figures = viz_prediction.main(common + ['--viz-dir', str(tmp / 'png'), '--width', '480'])
    with Image.open(figures[0]) as image:
        assert image.size == viz_prediction.layout(480)['size']
    pages = viz_prediction.main(common + ['--viz-dir', str(tmp / 'html'), '--html'])
    text = open(pages[0], encoding='utf-8').read()
    data = json.loads(text[text.index('id="occ-data">') + len('id="occ-data">'):
                           text.index('</script>', text.index('id="occ-data">'))])
    assert [c['name'] for c in data['classes']] == MERGED
    assert data['grid'] == {'shape': [100, 100, 8], 'min': [-40.0, -40.0, -1.0],
                            'voxel_size': 0.8}
