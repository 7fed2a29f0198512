"""Warm start: a model initialised from a checkpoint of another, partly shared, model.

GD-OCC shares SparseOcc's encoder, sparse voxel decoder and mask head; a converted SparseOcc
checkpoint (``tools/convert_sparseocc.py``) initialises those, while GD-OCC's own blocks
(LSS, the implicit branch, the fusion) keep their initialisation. Unlike mmengine's
``load_from`` (non-strict and silent), the log lists what loaded and what did not.
"""
import logging
import os
from collections import OrderedDict

import torch
from mmengine.logging import print_log


def _groups(keys, depth=2):
    """'a.b (n)' summaries of keys grouped by their first ``depth`` name components."""
    counts = OrderedDict()
    for key in keys:
        group = '.'.join(key.split('.')[:depth])
        counts[group] = counts.get(group, 0) + 1
    return ', '.join(f'{group} ({count})' for group, count in counts.items()) or 'none'


def warm_start(model, path, logger='current'):
    """Loads every tensor of checkpoint ``path`` whose name and shape ``model`` has.

    Args:
        model (nn.Module): the model, initialised.
        path (str): a torch / mmengine checkpoint (its ``state_dict``, or the dict itself).
        logger: mmengine logger for the report.

    Returns:
        dict: ``loaded``, ``fresh`` (model tensors left as initialised), ``unused``
        (checkpoint tensors the model has no place for) and ``reshaped`` (same name, other
        shape; left as initialised): lists of names.

    Raises:
        FileNotFoundError: ``path`` does not exist.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'warm start checkpoint not found: {path}')
    checkpoint = torch.load(path, map_location='cpu', weights_only=True)
    state = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else {}
    own = model.state_dict()
    reshaped = [k for k in state if k in own and tuple(state[k].shape) != tuple(own[k].shape)]
    loaded = [k for k in state if k in own and k not in reshaped]
    unused = [k for k in state if k not in own]
    fresh = [k for k in own if k not in state]
    model.load_state_dict(OrderedDict((k, state[k]) for k in loaded), strict=False)
    lines = [f'warm start from {path}: {len(loaded)} of {len(own)} model tensors loaded',
             f'  loaded: {_groups(loaded)}',
             f'  not in the checkpoint, kept as initialised: {_groups(fresh)}']
    if reshaped:
        lines.append(f'  another shape in the checkpoint, kept as initialised: '
                     f'{", ".join(reshaped)}')
    if unused:
        lines.append(f'  unused from the checkpoint: {_groups(unused)}')
    print_log('\n'.join(lines), logger=logger,
              level=logging.WARNING if reshaped or unused else logging.INFO)
    return dict(loaded=loaded, fresh=fresh, unused=unused, reshaped=reshaped)
