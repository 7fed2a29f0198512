"""The training runtime (engine/) with the tiny stand-in model: interruption and exact
resumption, atomic checkpoints kept to max_keep_ckpts, faults survived (SIGKILL of a
2-process run, SIGKILL and a full disk while a checkpoint is written), the non-finite loss
guard, and the config / checkpoint checks (one-line errors)."""
import glob
import importlib.util
import json
import os
import random
import signal
import subprocess
import time
import warnings

import pytest
import torch
from mmengine.config import Config

from engine.config import (amp_fallback, apply_total_batch_size, check_checkpoint,
                           check_config_keys, configure_training)
from tests.subprocesses import ROOT, launcher, run, script_env

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


def _command(script, *args, nproc=1):
    return [*launcher(nproc), os.path.join(ROOT, script), *map(str, args)]


def _run(script, *args, nproc=1):
    return run(_command(script, *args, nproc=nproc), timeout=300, cwd=ROOT, env=script_env())


def _with_hooks(config, path, *hooks):
    """Writes a config at ``path`` that inherits ``config`` and sets ``custom_hooks`` (a list
    of dicts: beyond ``--cfg-options``)."""
    with open(path, 'w') as f:
        f.write(f"_base_ = [{str(config)!r}]\ncustom_hooks = [{', '.join(hooks)}]\n")
    return path


def _probe(probe_dir, **options):
    """A ``TrainProbeHook`` config (as source text) writing to ``probe_dir``."""
    options = ''.join(f', {key}={value!r}' for key, value in options.items())
    return f"dict(type='TrainProbeHook', out_dir={str(probe_dir)!r}{options})"


def _train(config, work_dir, probe_dir, *extra, signal_at_iter=None, signal_name='SIGTERM'):
    """train.py on ``config`` plus a ``TrainProbeHook``."""
    probed = _with_hooks(config, f'{probe_dir}.py', _probe(
        probe_dir, signal_at_iter=signal_at_iter, signal_name=signal_name))
    return _run('train.py', '--config', probed, '--work-dir', str(work_dir), *extra)


def _kill_when(proc, ready, timeout=240):
    """SIGKILLs the process group of ``proc`` (started with ``start_new_session``) once
    ``ready()`` holds; returns ``proc``'s exit code."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, 'the run ended before the fault was injected'
        assert time.monotonic() < deadline, 'the fault point was never reached'
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    return proc.wait(timeout=60)


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


def _count_lines(path):
    if not os.path.isfile(path):
        return 0
    with open(path) as f:
        return sum(1 for _ in f)


@pytest.mark.torchrun
def test_sigkill_of_two_process_training_then_resume_gives_the_same_weights(config, tmp_path):
    # 8 samples, 2 per process and step: 2 iterations per epoch, 6 in all, a checkpoint per
    # epoch. The probe sleeps 0.4 s per iteration: the window the kill lands in.
    full = _with_hooks(config, tmp_path / 'full.py', _probe(tmp_path / 'full', sleep_s=0.4))
    result = _run('train.py', '--config', full, '--work-dir', tmp_path / 'work_full', nproc=2)
    assert result.returncode == 0, result.stderr[-3000:]

    rng = random.Random()
    kill_after, delay = rng.randint(1, 5), rng.uniform(0.0, 0.5)
    where = f'SIGKILL {delay:.2f} s after iteration {kill_after}'
    cut = _with_hooks(config, tmp_path / 'cut.py', _probe(tmp_path / 'cut', sleep_s=0.4))
    command = _command('train.py', '--config', cut, '--work-dir', tmp_path / 'work_cut',
                       nproc=2)
    with open(tmp_path / 'killed.log', 'w') as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=script_env(), stdout=out, stderr=out,
                                start_new_session=True)
        ready_at = []

        def ready():
            if not ready_at and _count_lines(tmp_path / 'cut' / 'iters_rank0.jsonl') >= \
                    kill_after:
                ready_at.append(time.monotonic())
            return bool(ready_at) and time.monotonic() - ready_at[0] >= delay

        assert _kill_when(proc, ready) == -signal.SIGKILL, where
    result = _run('train.py', '--config', cut, '--work-dir', tmp_path / 'work_cut',
                  '--resume', nproc=2)
    assert result.returncode == 0, f'{where}: {result.stderr[-3000:]}'
    for rank in (0, 1):
        assert (tmp_path / 'cut' / f'params_rank{rank}.json').read_text() == \
            (tmp_path / 'full' / f'params_rank{rank}.json').read_text(), where


def test_sigkill_while_writing_a_checkpoint_leaves_the_previous_one(config, uninterrupted,
                                                                    tmp_path):
    work, marker = tmp_path / 'work', tmp_path / 'writing'
    stalled = _with_hooks(config, tmp_path / 'stall.py', _probe(tmp_path / 'probe'),
                          f"dict(type='CheckpointFaultHook', fault='stall', at_save=2, "
                          f"marker={str(marker)!r})")
    proc = subprocess.Popen(_command('train.py', '--config', stalled, '--work-dir', work),
                            cwd=ROOT, env=script_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    assert _kill_when(proc, marker.exists) == -signal.SIGKILL
    # Killed half-way through epoch_2's temporary file: epoch_1 and the pointer are intact.
    assert [n for n in os.listdir(work) if '.pth' in n and n != 'epoch_1.pth'] == \
        [f'epoch_2.pth.tmp-{proc.pid}']
    assert (work / 'last_checkpoint').read_text() == str(work / 'epoch_1.pth')
    check_checkpoint(str(work / 'epoch_1.pth'))
    assert torch.load(work / 'epoch_1.pth', weights_only=False)['meta']['epoch'] == 1

    result = _train(config, work, tmp_path / 'probe', '--resume')
    assert result.returncode == 0, result.stderr[-3000:]
    assert not [n for n in os.listdir(work) if '.tmp-' in n]  # the stale temporary removed
    assert (tmp_path / 'probe' / 'params_rank0.json').read_text() == \
        (uninterrupted / 'probe' / 'params_rank0.json').read_text()


def test_a_full_disk_while_writing_a_checkpoint_ends_with_one_line(config, tmp_path):
    work = tmp_path / 'work'
    full_disk = _with_hooks(config, tmp_path / 'enospc.py',
                            "dict(type='CheckpointFaultHook', fault='enospc', at_save=2)")
    result = _run('train.py', '--config', full_disk, '--work-dir', work)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == \
        f'error: cannot write checkpoint {work / "epoch_2.pth"}: No space left on device; ' \
        f'{work / "epoch_1.pth"} is intact'
    assert 'Traceback' not in result.stderr
    assert sorted(n for n in os.listdir(work) if '.pth' in n) == ['epoch_1.pth']
    assert (work / 'last_checkpoint').read_text() == str(work / 'epoch_1.pth')
    check_checkpoint(str(work / 'epoch_1.pth'))


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
