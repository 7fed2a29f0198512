"""Hooks of the training and evaluation runtime: atomic checkpoints, checkpoint on
interruption, non-finite loss guard, saved predictions, evaluation progress bar."""
import os
import re
import signal

import numpy as np
import torch
from mmengine.dist import all_gather_object, all_reduce, barrier, get_world_size, is_main_process
from mmengine.hooks import CheckpointHook, Hook
from mmengine.model import is_model_wrapper

from mmdet3d.registry import HOOKS

from core.atomic_file import atomic_path

from .loops import RNG_STATES_KEY, get_rng_state

LAST_CHECKPOINT_FILE = 'last_checkpoint'  # mmengine's pointer that ``resume`` follows


class TrainingInterrupted(Exception):
    """Training stopped on a signal after saving a checkpoint; ``exit_code`` = 128 + signal."""

    def __init__(self, signum, message):
        super().__init__(message)
        self.exit_code = 128 + signum


class NonFiniteLossError(Exception):
    """A training step produced a NaN / infinite loss (``nonfinite_loss='stop'``)."""


class CheckpointWriteError(Exception):
    """A checkpoint could not be written (full disk, no permission...); the message says
    which, and which earlier checkpoint is intact."""


# The temporary name ``core.atomic_file.atomic_path`` writes a checkpoint under.
TEMPORARY_CHECKPOINT = re.compile(r'\.pth\.tmp-(\d+)$')


def save_checkpoint_atomic(runner, path, **kwargs):
    """``runner.save_checkpoint`` to ``path`` through a temporary file + rename, then points
    ``<work_dir>/last_checkpoint`` at it the same way, so a kill at any moment leaves the
    previous checkpoint and pointer intact. Every rank may call it; the main process writes.

    Args:
        path (str): the checkpoint file (local file system).
        **kwargs: ``runner.save_checkpoint`` options (``meta``, ``by_epoch``, ...).

    Raises:
        CheckpointWriteError: the file system refused the write (e.g. no space left); the
            temporary file is removed, the previous checkpoint and pointer are untouched.
    """
    if not is_main_process():
        return
    pointer = os.path.join(runner.work_dir, LAST_CHECKPOINT_FILE)
    try:
        with atomic_path(path) as tmp:
            runner.save_checkpoint(os.path.dirname(tmp), os.path.basename(tmp), **kwargs)
        with atomic_path(pointer) as tmp:
            with open(tmp, 'w') as f:
                f.write(path)
    except OSError as exc:
        previous = None
        if os.path.isfile(pointer):
            with open(pointer) as f:
                previous = f.read().strip()
        kept = f'{previous} is intact' if previous else 'no earlier checkpoint exists'
        raise CheckpointWriteError(f'cannot write checkpoint {path}: '
                                   f'{exc.strerror or exc}; {kept}') from exc


def remove_stale_temporaries(directory):
    """Removes the temporary checkpoint files (``*.pth.tmp-<pid>``) in ``directory`` whose
    writer process no longer runs: what a process killed while saving leaves behind."""
    for name in os.listdir(directory) if os.path.isdir(directory) else ():
        match = TEMPORARY_CHECKPOINT.search(name)
        if match and not _process_alive(int(match.group(1))):
            os.remove(os.path.join(directory, name))


def _process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """``CheckpointHook`` (same options, e.g. ``interval``, ``max_keep_ckpts``) whose
    checkpoints and ``last_checkpoint`` pointer are written atomically, and which removes the
    checkpoints beyond ``max_keep_ckpts`` only after the new one is in place (mmengine writes
    in place and removes first, so a kill while saving can leave a truncated newest
    checkpoint, which ``--resume`` would pick). Local file systems only. Before training it
    removes the temporary files of writers killed while saving.
    """

    def before_train(self, runner):
        super().before_train(runner)
        if is_main_process():
            remove_stale_temporaries(self.out_dir)

    def _save_checkpoint_with_step(self, runner, step, meta):
        self.last_ckpt = os.path.join(self.out_dir, self.filename_tmpl.format(step))
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        save_checkpoint_atomic(runner, self.last_ckpt, meta=meta, by_epoch=self.by_epoch,
                               save_optimizer=self.save_optimizer,
                               save_param_scheduler=self.save_param_scheduler, **self.args)
        if self.max_keep_ckpts <= 0 or (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            return  # keep all, or this step was saved already (best + regular checkpoint)
        if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
            old = os.path.join(self.out_dir, self.filename_tmpl.format(self.keep_ckpt_ids[0]))
            if is_main_process() and os.path.isfile(old):
                os.remove(old)
        self.keep_ckpt_ids.append(step)  # a deque of maxlen max_keep_ckpts drops the oldest
        runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))


@HOOKS.register_module()
class InterruptCheckpointHook(Hook):
    """On SIGINT / SIGTERM, finishes the current iteration, saves ``<work_dir>/<filename>``
    atomically (model, optimizer, schedulers, the random states of every rank) and stops
    training with :class:`TrainingInterrupted`; ``--resume`` then continues from it.

    Under DDP the ranks agree (one all-reduce per iteration) on stopping after the same
    iteration, whichever of them got the signal. A second signal stops at once.

    Args:
        filename (str): checkpoint name in the work dir.
    """
    priority = 'LOWEST'  # after the iteration's logging and iteration checkpoints
    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, filename='interrupted.pth'):
        self.filename = filename
        self._received = 0
        self._previous = {}

    def before_train(self, runner):
        self._received = 0
        self._previous = {sig: signal.signal(sig, self._handle) for sig in self.SIGNALS}

    def after_train(self, runner):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def _handle(self, signum, frame):
        if self._received:  # a second signal: the previous behaviour, now
            signal.signal(signum, self._previous.get(signum, signal.SIG_DFL))
            os.kill(os.getpid(), signum)
            return
        self._received = signum
        # os.write, not logging: a signal handler may run while the logger holds its lock.
        os.write(2, f'\n{signal.Signals(signum).name} received: saving a checkpoint after '
                    f'this iteration (send it again to stop at once)\n'.encode())

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        received = self._received
        if get_world_size() > 1:
            flag = torch.tensor([received], dtype=torch.int64)
            all_reduce(flag, op='max')
            received = int(flag.item())
        if not received:
            return
        done = runner.iter + 1  # iterations completed, this one included
        runner.message_hub.update_info(RNG_STATES_KEY,
                                       dict(iter=done, states=all_gather_object(get_rng_state())))
        path = os.path.join(runner.work_dir, self.filename)
        save_checkpoint_atomic(runner, path, by_epoch=False)  # meta: epoch, iter = done
        barrier()
        name = signal.Signals(received).name
        raise TrainingInterrupted(received, f'interrupted by {name} after iteration {done}: '
                                            f'saved {path} (continue with --resume)')


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Guards the optimizer against NaN / infinite losses.

    It checks the loss between the forward pass and the parameter update (by wrapping the
    model's ``parse_losses`` and the optimizer wrapper's ``update_params``: no hook point of
    mmengine lies between the two), so parameters, optimizer state and checkpoints never see
    a non-finite step. Under DDP the ranks agree (one all-reduce per iteration).

    Args:
        mode (str): ``'stop'``: raise :class:`NonFiniteLossError` naming the iteration and the
            loss terms; ``'skip'``: log a warning and skip the update.
    """
    priority = 'HIGHEST'
    MODES = ('stop', 'skip')

    def __init__(self, mode='stop'):
        if mode not in self.MODES:
            raise ValueError(f'nonfinite_loss must be one of {self.MODES}, got {mode!r}')
        self.mode = mode
        self.num_skipped = 0
        self._skip_update = False
        self._originals = None

    def before_train(self, runner):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        optim_wrapper = runner.optim_wrapper
        parse_losses, update_params = model.parse_losses, optim_wrapper.update_params

        def checked_parse_losses(losses):
            loss, log_vars = parse_losses(losses)
            self._skip_update = not self._all_finite(loss)
            if self._skip_update:
                self._report(runner, log_vars)
            return loss, log_vars

        def guarded_update_params(loss, *args, **kwargs):
            if self._skip_update:
                optim_wrapper.zero_grad()
                return None
            return update_params(loss, *args, **kwargs)

        self._originals = (model, optim_wrapper)
        model.parse_losses = checked_parse_losses
        optim_wrapper.update_params = guarded_update_params

    def after_train(self, runner):
        if self._originals is not None:
            model, optim_wrapper = self._originals
            del model.parse_losses, optim_wrapper.update_params  # back to the class methods
            self._originals = None

    @staticmethod
    def _all_finite(loss):
        finite = torch.isfinite(loss.detach()).all().to(torch.int64).reshape(1).cpu()
        if get_world_size() > 1:
            all_reduce(finite, op='min')
        return bool(finite.item())

    def _report(self, runner, log_vars):
        values = ', '.join(f'{key}={float(value):.6g}' for key, value in log_vars.items())
        where = f'iteration {runner.iter + 1} (epoch {runner.epoch + 1})'
        if get_world_size() > 1:
            where += ' on some rank'
        if self.mode == 'stop':
            raise NonFiniteLossError(
                f'non-finite loss at {where}: {values}; stopped before the update, no '
                f'checkpoint written (nonfinite_loss="skip" skips such steps)')
        self.num_skipped += 1
        runner.logger.warning(f'non-finite loss at {where}: {values}; update skipped '
                              f'({self.num_skipped} so far)')


def _field(sample, key):
    """``key`` of a data sample (a dict or an mmengine data element, field or metainfo)."""
    value = sample.get(key)
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    return value


@HOOKS.register_module()
class SavePredictionHook(Hook):
    """Writes each test sample's prediction to ``<out_dir>/<sample_token>.npz`` (key ``pred``:
    uint8 [200, 200, 16], 17 = free; ``inst`` too for panoptic models), the format
    ``tools/ray_metrics.py`` and ``viz_prediction.py --pred-dir`` read. Each rank writes its
    own samples, atomically (a sample DDP pads in twice is written twice, identically).

    Args:
        out_dir (str): output folder.
    """

    def __init__(self, out_dir):
        self.out_dir = out_dir

    def before_test(self, runner):
        os.makedirs(self.out_dir, exist_ok=True)

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        for sample in outputs:
            token = _field(sample, 'sample_token')
            if token is None:
                raise KeyError('SavePredictionHook: the data samples carry no sample_token')
            arrays = dict(pred=np.asarray(_field(sample, 'pred_occ_sem'), dtype=np.uint8))
            inst = _field(sample, 'pred_occ_inst')
            if inst is not None:
                arrays['inst'] = np.asarray(inst)
            with atomic_path(os.path.join(self.out_dir, f'{token}.npz'), suffix='.npz') as tmp:
                np.savez_compressed(tmp, **arrays)


@HOOKS.register_module()
class ProgressBarHook(Hook):
    """A progress bar over the test samples of this rank (shown by the main process)."""
    priority = 'VERY_LOW'

    def __init__(self):
        self._bar = None

    def before_test_epoch(self, runner):
        from tqdm import tqdm

        self._bar = tqdm(total=len(runner.test_dataloader), desc='test', unit='batch',
                         disable=not is_main_process())

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self._bar.update(1)

    def after_test_epoch(self, runner, metrics=None):
        self._bar.close()
