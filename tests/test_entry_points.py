"""train.py and val.py run end to end (tiny model) and fail clearly on bad input."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = """
custom_imports = dict(imports=['models', 'loaders', 'evaluation', 'tiny_occ'],
                      allow_failed_imports=False)
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


def _run(script, *args, **env):
    env = dict(os.environ, **env, PYTHONPATH=os.pathsep.join(
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


def test_misspelt_nested_keys_and_types_give_one_line(trained, tmp_path):
    config, work_dir = trained
    weights = str(work_dir / 'epoch_2.pth')
    result = _run('val.py', '--config', str(config), '--weights', weights, '--work-dir',
                  str(tmp_path), '--cfg-options', 'model.num_clases=18')
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "error: model.num_clases: TinyOccModel takes no argument 'num_clases' (did you "
        "mean 'num_classes'?) (--debug shows the traceback)")
    assert 'Traceback' not in result.stderr
    # a misspelt type, in a dataset built while training runs
    result = _run('train.py', '--config', str(config), '--work-dir', str(tmp_path),
                  '--cfg-options', 'train_dataloader.dataset.type=TinyOccDatset')
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "error: train_dataloader.dataset.type: 'TinyOccDatset' is not a registered dataset "
        "module (did you mean 'TinyOccDataset'?) (--debug shows the traceback)")
    assert 'Traceback' not in result.stderr
    # --debug, or GDOCC_DEBUG=1, shows where it failed
    for extra, env in ((['--debug'], {}), ([], dict(GDOCC_DEBUG='1'))):
        result = _run('val.py', '--config', str(config), '--weights', weights, '--work-dir',
                      str(tmp_path), *extra, '--cfg-options', 'model.num_clases=18', **env)
        assert result.returncode == 1 and 'Traceback' in result.stderr
        assert "got an unexpected keyword argument 'num_clases'" in result.stderr


def test_a_missing_config_names_the_closest_one(tmp_path):
    # the seed README's evaluation command has this typo
    result = _run('val.py', '--config', 'configs/sr50_nuimg_704x256.py', '--weights', 'x.pth')
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        'error: config file not found: configs/sr50_nuimg_704x256.py '
        '(did you mean configs/r50_nuimg_704x256.py?)')
    result = _run('train.py', '--config', 'configs/r50_nuimg_704x256_8f_dens.py')
    assert 'did you mean configs/r50_nuimg_704x256_8f_dense.py?' in result.stderr
    result = _run('train.py', '--config', str(tmp_path / 'zzz.py'))
    assert 'config file not found' in result.stderr and 'did you mean' not in result.stderr


def test_seed_config_name_is_an_alias_of_the_paper_config():
    from mmengine.config import Config
    configs = os.path.join(ROOT, 'configs')
    with open(os.path.join(configs, 'r50_nuimg_704x256.py')) as f:
        code = [line for line in f.read().splitlines() if line and not line.startswith('#')]
    assert code == ["_base_ = ['./r50_nuimg_704x256_8f.py']"]  # one source of truth
    alias = Config.fromfile(os.path.join(configs, 'r50_nuimg_704x256.py'))
    paper = Config.fromfile(os.path.join(configs, 'r50_nuimg_704x256_8f.py'))
    again = Config.fromfile(os.path.join(configs, 'r50_nuimg_704x256_8f.py'))
    # mmengine's {{_base_.x}} placeholders carry a random suffix: one left inside an
    # expression makes two loads of the same file differ
    assert paper.to_dict() == again.to_dict(), 'the paper config does not load reproducibly'
    assert alias.to_dict() == paper.to_dict()


def test_weights_load_strictly_unless_non_strict(trained, tmp_path):
    import torch
    config, work_dir = trained
    checkpoint = torch.load(work_dir / 'epoch_2.pth', map_location='cpu', weights_only=False)
    state = checkpoint['state_dict']
    # another model's checkpoint: its keys do not fit
    foreign = dict(checkpoint, state_dict={'backbone.conv1.weight': torch.zeros(2),
                                           'backbone.bn1.weight': torch.zeros(2),
                                           'head.cls.weight': torch.zeros(2),
                                           'head.cls.bias': torch.zeros(2)})
    torch.save(foreign, tmp_path / 'foreign.pth')
    result = _run('val.py', '--config', str(config), '--weights', str(tmp_path / 'foreign.pth'),
                  '--work-dir', str(tmp_path / 'strict'))
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last == (f'error: {tmp_path / "foreign.pth"} does not fit the model: 1 missing key '
                    '(logits); 4 unexpected keys (backbone.conv1.weight, backbone.bn1.weight, '
                    'head.cls.weight, ...); pass --non-strict to load it anyway')
    result = _run('val.py', '--config', str(config), '--weights', str(tmp_path / 'foreign.pth'),
                  '--non-strict', '--work-dir', str(tmp_path / 'lenient'))
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'loading non-strictly' in result.stdout + result.stderr
    # DDP's module. prefix is accepted, a reshaped tensor is not
    torch.save(dict(checkpoint, state_dict={f'module.{k}': v for k, v in state.items()}),
               tmp_path / 'ddp.pth')
    assert _run('val.py', '--config', str(config), '--weights', str(tmp_path / 'ddp.pth'),
                '--work-dir', str(tmp_path / 'ddp')).returncode == 0
    torch.save(dict(checkpoint, state_dict={'logits': torch.zeros(3, 3)}), tmp_path / 'shape.pth')
    result = _run('val.py', '--config', str(config), '--weights', str(tmp_path / 'shape.pth'),
                  '--work-dir', str(tmp_path / 'shape'))
    assert '1 key of another shape (logits)' in result.stderr


def test_seed_compile_step_runs_the_top_level_setup():
    # `cd models/csrc && python setup.py build_ext --inplace` (the seed README) builds the
    # extension of `make build`: models/csrc/setup.py runs the top-level setup.py from the
    # repository root. Its metadata shows it without compiling.
    result = subprocess.run([sys.executable, 'setup.py', '--name', '--version'],
                            cwd=os.path.join(ROOT, 'models', 'csrc'), capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-2:] == ['gdocc', '0.1.0']
