"""Loading ``--weights`` into a model: strict by default, with one line on a mismatch.

mmengine's Runner loads ``load_from`` non-strictly: a checkpoint of another model (a
SparseOcc checkpoint, say) loads silently into a mostly random model. ``val.py`` and
``viz_prediction.py`` load through :func:`load_weights` instead.
"""
import logging
import re
from collections import OrderedDict

from mmengine.model import is_model_wrapper
from mmengine.runner.checkpoint import _load_checkpoint, _load_checkpoint_to_model

# How many missing / unexpected / reshaped keys the error names.
SHOWN_KEYS = 3


class WeightsMismatchError(ValueError):
    """The checkpoint's parameters do not fit the model (message: one line with the counts
    of missing, unexpected and reshaped keys and the first few of each)."""


def checkpoint_state_dict(checkpoint):
    """The parameter dict of a loaded checkpoint (``state_dict`` of mmengine checkpoints, or
    the dict itself), with DDP's ``module.`` prefixes removed."""
    state = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else {}
    return OrderedDict((re.sub(r'^module\.', '', k), v) for k, v in state.items())


def weights_mismatch(model, state):
    """Keys of ``model`` (an ``nn.Module``) and of ``state`` (name -> tensor) that disagree.

    Returns:
        tuple(list, list, list): missing (in the model, not in ``state``), unexpected (in
        ``state`` only) and reshaped (in both, with different shapes) key names.
    """
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    reshaped = [k for k in own if k in state and hasattr(state[k], 'shape')
                and tuple(state[k].shape) != tuple(own[k].shape)]
    return missing, unexpected, reshaped


def mismatch_message(path, missing, unexpected, reshaped):
    """One line: ``<path> does not fit the model: 2 missing keys (a, b), ...``."""
    parts = []
    for keys, what in ((missing, 'missing key{s}'), (unexpected, 'unexpected key{s}'),
                       (reshaped, 'key{s} of another shape')):
        if keys:
            shown = ', '.join(keys[:SHOWN_KEYS]) + (', ...' if len(keys) > SHOWN_KEYS else '')
            parts.append(f'{len(keys)} {what.format(s="s" if len(keys) > 1 else "")} ({shown})')
    return f'{path} does not fit the model: {"; ".join(parts)}'


def load_weights(model, path, strict=True, logger=None):
    """Loads the parameters of checkpoint ``path`` into ``model``.

    Args:
        model (nn.Module): the model, possibly wrapped (DDP): its ``module`` is loaded.
        path (str): a torch / mmengine checkpoint.
        strict (bool): raise on any missing, unexpected or reshaped key; with False, load
            the keys that fit and warn with the same summary.
        logger: mmengine logger for the warning (default: the current one).

    Returns:
        dict: the loaded checkpoint (``meta``, ``state_dict``, ...).

    Raises:
        WeightsMismatchError: ``strict`` and the keys disagree (one line, ending with how
            to opt out: ``--non-strict``).
    """
    from mmengine.logging import print_log

    module = model.module if is_model_wrapper(model) else model
    checkpoint = _load_checkpoint(path, map_location='cpu')
    state = checkpoint_state_dict(checkpoint)
    missing, unexpected, reshaped = weights_mismatch(module, state)
    if missing or unexpected or reshaped:
        message = mismatch_message(path, missing, unexpected, reshaped)
        if strict:
            raise WeightsMismatchError(f'{message}; pass --non-strict to load it anyway')
        print_log(f'loading non-strictly: {message}', logger=logger or 'current',
                  level=logging.WARNING)
        fitting = OrderedDict((k, v) for k, v in state.items()
                              if k not in unexpected and k not in reshaped)
        checkpoint = dict(checkpoint, state_dict=fitting) if 'state_dict' in checkpoint \
            else fitting
    _load_checkpoint_to_model(module, checkpoint, strict=False, logger=logger)
    return checkpoint
