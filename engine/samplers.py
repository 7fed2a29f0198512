"""Data samplers of the training runtime."""
from torch.utils.data import Sampler

from mmdet3d.registry import DATA_SAMPLERS


@DATA_SAMPLERS.register_module()
class ResumableSampler(Sampler):
    """Wraps a sampler so that a run resumed in the middle of an epoch can skip the batches
    it already trained on without loading them.

    Loading and discarding them instead (what mmengine's iteration-based loop does) would be
    slow and would draw from the augmentations' random state, so the resumed run would not
    see the data the uninterrupted one saw. :class:`engine.loops.ResumableEpochBasedTrainLoop`
    calls :meth:`skip_next_epoch` before the resumed epoch.

    Args:
        sampler (dict): config of the wrapped sampler (e.g. ``DefaultSampler``).
        dataset: the dataset (passed on to the wrapped sampler).
        seed (int, optional): passed on to the wrapped sampler.
    """

    def __init__(self, sampler, dataset, seed=None):
        default_args = dict(dataset=dataset)
        if seed is not None:
            default_args['seed'] = seed
        self.sampler = DATA_SAMPLERS.build(sampler, default_args=default_args)
        self._skip = 0

    def skip_next_epoch(self, num_samples):
        """The next iteration over the sampler leaves out its first ``num_samples`` indices."""
        self._skip = int(num_samples)

    def __iter__(self):
        skip, self._skip = self._skip, 0
        for position, index in enumerate(self.sampler):
            if position >= skip:
                yield index

    def __len__(self):
        # The full length even while skipping: the loop's iteration counts are per epoch.
        return len(self.sampler)

    def set_epoch(self, epoch):
        """Forwarded to the wrapped sampler (``DistSamplerSeedHook`` reshuffles per epoch)."""
        if hasattr(self.sampler, 'set_epoch'):
            self.sampler.set_epoch(epoch)
