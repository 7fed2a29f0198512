"""The training runtime (engine/) with the tiny stand-in model: interruption and exact
resumption, atomic checkpoints kept to max_keep_ckpts, the non-finite loss guard, and the
config / checkpoint checks (one-line errors)."""
import glob
import importlib.util
import json
import os
import subprocess
import sys
import warnings

import pytest
import torch
from mmengine.config import Config

from engine.config import (amp_fallback, apply_total_batch_size, check_checkpoint,
                           check_config_keys, configure_training)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = """
custom_imports = dict(imports=['models', 'loaders', 'evaluation', 'tiny_occ', 'train_probe'],
                      allow_failed_imports=False)
default_scope = 'mmdet3d'
model = dict(type='TinyOccModel')
train_dataloader = dict(batch_size=2, num_workers=0,
                        dataset=dict(type='TinyOccDataset', num_samples=8),
                        sampler=dict(type='DefaultSampler', shuffle=True))
# AdamW: its moments make the losses after a resume depend on the restored optimizer state.
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=0.05))
train_cfg = dict(by_epoch=True, max_epochs=3)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=2),
                     logger=dict(type='LoggerHook', interval=1))
randomness = dict(seed=0)
"""
ITERS_PER_EPOCH = 4


def _run(script, *args):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [ROOT, os.path.join(ROOT, 'tests', 'fixtures'), os.environ.get('PYTHONPATH', '')]))
    return subprocess.run([sys.executable, os.path.join(ROOT, script), *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)


def _train(config, work_dir, probe_dir, *extra, signal_at_iter=None, signal_name='SIGTERM'):
    """train.py on ``config`` plus a ``TrainProbeHook`` (a list of dicts: beyond
    ``--cfg-options``, so through a config that inherits ``config``)."""
    probed = os.path.join(os.path.dirname(probe_dir), f'{os.path.basename(probe_dir)}.py')
    with open(probed, 'w') as f:
        f.write(f"_base_ = [{str(config)!r}]\ncustom_hooks = [dict(type='TrainProbeHook', "
                f"out_dir={str(probe_dir)!r}, signal_at_iter={signal_at_iter}, "
                f"signal_name={signal_name!r})]\n")
    return _run('train.py', '--config', probed, '--work-dir', str(work_dir), *extra)


def _iters(probe_dir):
    with open(os.path.join(probe_dir, 'iters_rank0.jsonl')) as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope='module')
def config(tmp_path_factory):
    path = tmp_path_factory.mktemp('cfg') / 'tiny.py'
    path.write_text(CONFIG)
    return path


@pytest.fixture(scope='module')
def uninterrupted(config, tmp_path_factory):
    tmp = tmp_path_factory.mktemp('full')
    result = _train(config, tmp / 'work', tmp / 'probe')
    assert result.returncode == 0, result.stderr[-3000:]
    return tmp


def test_checkpoints_are_atomic_and_the_last_n_are_kept(uninterrupted):
    work = uninterrupted / 'work'
    names = sorted(os.listdir(work))
    assert [n for n in names if n.endswith('.pth')] == ['epoch_2.pth', 'epoch_3.pth']
    assert not [n for n in names if '.tmp-' in n]  # no temporary file left behind
    assert (work / 'last_checkpoint').read_text() == str(work / 'epoch_3.pth')
    for name in ('epoch_2.pth', 'epoch_3.pth'):
        check_checkpoint(str(work / name))
    assert len(_iters(uninterrupted / 'probe')) == 3 * ITERS_PER_EPOCH
    if importlib.util.find_spec('tensorboard'):  # scalars for TensorBoard too
        assert glob.glob(str(work / '*' / 'vis_data' / 'events.out.tfevents.*'))


def test_sigint_saves_a_checkpoint_and_resume_continues_exactly(config, uninterrupted,
                                                                tmp_path):
    # SIGINT (Ctrl-C) here; tests/test_gdocc_training.py sends SIGTERM.
    stop = ITERS_PER_EPOCH + 2  # in the middle of epoch 2
    result = _train(config, tmp_path / 'work', tmp_path / 'probe', signal_at_iter=stop,
                    signal_name='SIGINT')
    assert result.returncode == 128 + 2, result.stderr[-3000:]
    interrupted = tmp_path / 'work' / 'interrupted.pth'
    assert result.stderr.strip().splitlines()[-1] == \
        f'interrupted by SIGINT after iteration {stop}: saved {interrupted} (continue with ' \
        f'--resume)'
    assert (tmp_path / 'work' / 'last_checkpoint').read_text() == str(interrupted)
    assert torch.load(interrupted, weights_only=False)['meta']['iter'] == stop

    result = _train(config, tmp_path / 'work', tmp_path / 'probe', '--resume')
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'skipping its first 2 batches' in result.stdout + result.stderr
    # Same samples in the same order, same losses (optimizer state restored), same weights.
    assert _iters(tmp_path / 'probe') == _iters(uninterrupted / 'probe')
    assert (tmp_path / 'probe' / 'params_rank0.json').read_text() == \
        (uninterrupted / 'probe' / 'params_rank0.json').read_text()


def test_nonfinite_loss_stops_before_the_update_or_skips_it(config, tmp_path):
    nan_model = "model.type=NanLossTinyModel model.nan_calls=[6]"
    result = _run('train.py', '--config', str(config), '--work-dir', str(tmp_path / 'stop'),
                  '--cfg-options', *nan_model.split())
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith('error: non-finite loss at iteration 6 (epoch 2): loss=nan')
    assert 'loss_ce=nan' in last
    # epoch 1 was saved; nothing of the failed epoch 2
    assert sorted(n for n in os.listdir(tmp_path / 'stop') if n.endswith('.pth')) == \
        ['epoch_1.pth']

    result = _run('train.py', '--config', str(config), '--work-dir', str(tmp_path / 'skip'),
                  '--cfg-options', *nan_model.split(), 'nonfinite_loss=skip')
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'non-finite loss at iteration 6 (epoch 2)' in result.stdout + result.stderr
    state = torch.load(tmp_path / 'skip' / 'epoch_3.pth', weights_only=False)
    assert torch.isfinite(state['state_dict']['logits']).all()


def _error_of(entry_point, *args):
    """The one-line message ``entry_point.main`` exits with (``sys.exit(str)``: printed on
    stderr, exit code 1), run in this process: the error paths end before any training."""
    with pytest.raises(SystemExit) as exc:
        entry_point.main([str(a) for a in args])
    assert isinstance(exc.value.code, str) and '\n' not in exc.value.code
    return exc.value.code


def test_one_line_errors(config, uninterrupted, tmp_path, monkeypatch):
    import train
    import val

    monkeypatch.syspath_prepend(os.path.join(ROOT, 'tests', 'fixtures'))
    # what prepare_config sets for mmengine checkpoints, undone after the test
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    typo = tmp_path / 'typo.py'
    typo.write_text(CONFIG.replace('train_cfg =', 'trian_cfg ='))
    assert _error_of(train, '--config', typo) == \
        f"error: {typo}: unknown config key 'trian_cfg' (did you mean 'train_cfg'?)"

    corrupt = tmp_path / 'corrupt.pth'
    corrupt.write_bytes((uninterrupted / 'work' / 'epoch_3.pth').read_bytes()[:1000])
    message = f'error: corrupt checkpoint (truncated or not saved by torch): {corrupt}'
    assert _error_of(train, '--config', config, '--resume', corrupt) == message
    assert _error_of(val, '--config', config, '--weights', corrupt) == message
    missing = tmp_path / 'no.pth'
    assert _error_of(train, '--config', config, '--resume', missing) == \
        f'error: checkpoint not found: {missing}'
    assert _error_of(val, '--config', config, '--weights', missing) == \
        f'error: checkpoint not found: {missing}'

    assert _error_of(train, '--config', config, '--cfg-options',
                     f'train_dataloader.dataset.data_root={tmp_path / "nope"}') == \
        f'error: data root not found: {tmp_path / "nope"} (train_dataloader; set it with ' \
        f'--cfg-options train_dataloader.dataset.data_root=DIR)'


def test_config_helpers():
    cfg = Config(dict(train_cfg=dict(), num_cams=6, train_pipeline=[], total_batch_size=8,
                      train_dataloader=dict(batch_size=1), val_evaluater=dict()))
    with pytest.raises(ValueError, match="'val_evaluater' \\(did you mean 'val_evaluator'"):
        check_config_keys(cfg)
    cfg.pop('val_evaluater')
    check_config_keys(cfg)  # free variables are fine
    assert apply_total_batch_size(cfg, 4).train_dataloader.batch_size == 2
    with pytest.raises(ValueError, match='total_batch_size=8 is not a positive multiple of '
                                         'the 3 training processes'):
        apply_total_batch_size(cfg, 3)

    amp = Config(dict(optim_wrapper=dict(type='AmpOptimWrapper', loss_scale='dynamic',
                                         optimizer=dict(type='SGD', lr=0.1))))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        amp_fallback(amp)
    if not torch.cuda.is_available():
        assert amp.optim_wrapper == dict(type='OptimWrapper',
                                         optimizer=dict(type='SGD', lr=0.1))
        assert 'AmpOptimWrapper needs CUDA' in str(caught[0].message)

    train = configure_training(Config(dict(
        train_cfg=dict(by_epoch=True, max_epochs=2), train_dataloader=dict(batch_size=1),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1)))))
    assert train.train_cfg == dict(type='ResumableEpochBasedTrainLoop', max_epochs=2)
    assert train.train_dataloader.sampler.type == 'ResumableSampler'
    assert train.default_hooks.checkpoint.type == 'AtomicCheckpointHook'
    assert [h['type'] for h in train.custom_hooks] == ['InterruptCheckpointHook',
                                                       'NonFiniteLossHook']
    assert 'engine' in train.custom_imports.imports


def test_per_module_lr_multipliers_reach_the_optimizer():
    """``optim_wrapper.paramwise_cfg.custom_keys`` (mmengine's default constructor) scales
    the learning rate of the named submodules of GD-OCC."""
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope

    from mmdet3d.registry import MODELS

    cfg = Config.fromfile(os.path.join(ROOT, 'configs', 'toy_gdocc.py'))
    init_default_scope('mmdet3d')
    model = MODELS.build(cfg.model)
    cfg.optim_wrapper.paramwise_cfg = dict(custom_keys={'img_encoder.backbone': dict(
        lr_mult=0.1, decay_mult=0.5)})
    groups = build_optim_wrapper(model, cfg.optim_wrapper).optimizer.param_groups
    lr = cfg.optim_wrapper.optimizer.lr
    backbone = {id(p) for p in model.img_encoder.backbone.parameters()}
    for group in groups:
        in_backbone = id(group['params'][0]) in backbone
        assert group['lr'] == pytest.approx(lr * 0.1 if in_backbone else lr)
        assert group['weight_decay'] == pytest.approx(1e-2 * (0.5 if in_backbone else 1))
    assert sum(len(g['params']) for g in groups) == len(list(model.parameters()))
