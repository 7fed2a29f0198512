"""Training loop whose runs can be interrupted and resumed without changing what they learn."""
import random

import numpy as np
import torch
from mmengine.dist import get_rank
from mmengine.runner import EpochBasedTrainLoop

from mmdet3d.registry import LOOPS

from .samplers import ResumableSampler

# message_hub runtime-info key of the per-rank random states saved with an interrupted
# checkpoint (``InterruptCheckpointHook``): dict(iter=int, states=[state of rank 0, ...]).
RNG_STATES_KEY = 'rng_states'


def get_rng_state():
    """The random states the data pipeline and the model draw from (this process)."""
    return dict(python=random.getstate(), numpy=np.random.get_state(),
                torch=torch.get_rng_state())


def set_rng_state(state):
    """Restores a :func:`get_rng_state` result."""
    random.setstate(state['python'])
    np.random.set_state(state['numpy'])
    torch.set_rng_state(state['torch'])


def seed_everything(seed):
    """Seeds python, numpy and torch (CPU and CUDA) random generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@LOOPS.register_module()
class ResumableEpochBasedTrainLoop(EpochBasedTrainLoop):
    """``EpochBasedTrainLoop`` that resumes exactly, also from the middle of an epoch.

    mmengine restarts a resumed epoch from its first batch, so an ``interrupted`` checkpoint
    saved at iteration i of an epoch would train on the epoch's first i batches twice. This
    loop skips them (without loading them: the sampler must be a :class:`ResumableSampler`,
    which ``engine.config.configure_training`` arranges).

    Random state: every epoch starts from random generators seeded with (run seed, epoch),
    so the data augmentations of epoch e are the same whether the run was resumed before e
    or not (validation and checkpointing in between draw from the same generators); a run
    resumed in the middle of an epoch restores the states saved with the checkpoint instead.
    This covers augmentations drawn in the training processes (``num_workers=0``) and in
    non-persistent workers (mmengine seeds them alike at every epoch); persistent workers keep
    their own random streams, which a resumed run restarts.
    """

    def run_epoch(self):
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        skip = self._iter - self._epoch * len(self.dataloader)
        saved = self._take_saved_rng_states()
        if saved is None:
            seed_everything(self._epoch_seed())
        if skip > 0:
            sampler = self.dataloader.sampler
            if not isinstance(sampler, ResumableSampler):
                raise RuntimeError(
                    f'resuming in the middle of epoch {self._epoch + 1} needs the train '
                    f'sampler wrapped in ResumableSampler (got {type(sampler).__name__})')
            sampler.skip_next_epoch(skip * self.dataloader.batch_size)
            self.runner.logger.info(f'resumed in epoch {self._epoch + 1}: skipping its first '
                                    f'{skip} batches (already trained on)')
        batches = iter(self.dataloader)  # draws the workers' base seed from torch's generator
        if saved is not None:  # so the states are restored after that draw, as they were saved
            set_rng_state(saved[get_rank()])
        for idx, data_batch in enumerate(batches, start=max(skip, 0)):
            self.run_iter(idx, data_batch)
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1

    def _epoch_seed(self):
        entropy = [self.runner.seed, self._epoch]
        if self.runner.cfg.get('randomness', {}).get('diff_rank_seed', False):
            entropy.append(get_rank())
        return int(np.random.SeedSequence(entropy).generate_state(1)[0])

    def _take_saved_rng_states(self):
        """The per-rank random states saved with the checkpoint this run resumed from, if it
        was saved at the current iteration (``InterruptCheckpointHook``); used once."""
        hub = self.runner.message_hub
        saved = hub.get_info(RNG_STATES_KEY)
        if saved is None:
            return None
        hub.update_info(RNG_STATES_KEY, None)  # later checkpoints must not carry them
        return saved['states'] if saved['iter'] == self._iter else None
