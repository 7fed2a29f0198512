"""train.py and val.py run end to end (tiny model) and fail clearly on bad input."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = """
custom_imports = dict(imports=['models', 'loaders', 'tiny_occ'], allow_failed_imports=False)
default_scope = 'mmdet3d'
model = dict(type='TinyOccModel')
dataset = dict(type='TinyOccDataset', num_samples=4)
train_dataloader = dict(batch_size=2, num_workers=0, dataset=dataset,
                        sampler=dict(type='DefaultSampler', shuffle=True))
val_dataloader = dict(batch_size=1, num_workers=0, dataset=dataset,
                      sampler=dict(type='DefaultSampler', shuffle=False))
test_dataloader = val_dataloader
val_evaluator = dict(type='OccupancyMetric')
test_evaluator = val_evaluator
optim_wrapper = dict(optimizer=dict(type='SGD', lr=50.0))
train_cfg = dict(by_epoch=True, max_epochs=2, val_interval=2)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1),
                     logger=dict(type='LoggerHook', interval=1))
randomness = dict(seed=0)
"""


def _run(script, *args):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [ROOT, os.path.join(ROOT, 'tests', 'fixtures'), os.environ.get('PYTHONPATH', '')]))
    return subprocess.run([sys.executable, os.path.join(ROOT, script), *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('entry')
    config = tmp / 'tiny.py'
    config.write_text(CONFIG)
    work_dir = tmp / 'work'
    result = _run('train.py', '--config', str(config), '--work-dir', str(work_dir))
    assert result.returncode == 0, result.stderr[-3000:]
    return config, work_dir


def test_train_writes_checkpoints_and_validates(trained):
    _, work_dir = trained
    assert (work_dir / 'epoch_1.pth').is_file() and (work_dir / 'epoch_2.pth').is_file()


def test_val_reports_the_metrics_and_writes_json(trained, tmp_path):
    config, work_dir = trained
    out = tmp_path / 'metrics.json'
    result = _run('val.py', '--config', str(config), '--weights', str(work_dir / 'epoch_2.pth'),
                  '--out', str(out), '--work-dir', str(tmp_path / 'val'))
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads(out.read_text())
    assert metrics['RayIoU'] == pytest.approx(1.0)  # the tiny model learns the road exactly
    assert metrics['mIoU'] == 100.0


def test_resume_continues_from_the_last_checkpoint(trained):
    config, work_dir = trained
    result = _run('train.py', '--config', str(config), '--work-dir', str(work_dir), '--resume',
                  '--cfg-options', 'train_cfg.max_epochs=3')
    assert result.returncode == 0, result.stderr[-3000:]
    assert (work_dir / 'epoch_3.pth').is_file()
    assert 'resumed epoch: 2' in (result.stdout + result.stderr)


def test_missing_files_give_one_line_errors(trained, tmp_path):
    config, _ = trained
    result = _run('val.py', '--config', str(config), '--weights', str(tmp_path / 'none.pth'))
    assert result.returncode != 0 and 'checkpoint not found' in result.stderr
    result = _run('train.py', '--config', str(tmp_path / 'missing.py'))
    assert result.returncode != 0 and 'config file not found' in result.stderr
