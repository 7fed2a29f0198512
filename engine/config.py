"""Config checks and the training/evaluation runtime settings the entry points add to a
config before handing it to mmengine's ``Runner.from_cfg``."""
import difflib
import glob
import inspect
import os
import re
import warnings
import zipfile

import torch
from mmengine.runner import Runner

# Top-level keys the runtime reads besides ``Runner.__init__``'s arguments: mmengine's
# config machinery and Runner internals (model wrapping, compile, ...), and the project's.
RUNNER_CFG_KEYS = ('custom_imports', 'model_wrapper_cfg', 'find_unused_parameters', 'sync_bn',
                   'compile', 'activation_checkpointing', 'efficient_conv_bn_eval')
PROJECT_KEYS = ('total_batch_size', 'nonfinite_loss')
# Configs also hold free variables (``num_cams``, ``train_pipeline``, ...), so an unknown
# key is an error only when it looks like a misspelt known one.
TYPO_CUTOFF = 0.8
# The project's configs/ folder, searched for the config a missing path probably meant.
CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'configs')
CONFIG_CUTOFF = 0.6


def closest_config(path, config_dir=CONFIG_DIR):
    """The existing config of ``config_dir`` (``_base_`` fragments excluded) whose name is
    closest to ``path``'s (``configs/sr50_nuimg_704x256.py`` ->
    ``configs/r50_nuimg_704x256.py``), as a path relative to the working directory when it
    lies below it; None when nothing is close."""
    base = os.path.join(config_dir, '_base_') + os.sep
    candidates = {os.path.relpath(p, config_dir): p
                  for p in glob.glob(os.path.join(config_dir, '**', '*.py'), recursive=True)
                  if not p.startswith(base)}
    name = os.path.normpath(path)
    marker = os.path.basename(config_dir) + os.sep
    name = name.split(marker, 1)[1] if marker in name else os.path.basename(name)
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=CONFIG_CUTOFF)
    if not close:
        return None
    found = os.path.relpath(candidates[close[0]])
    return found if not found.startswith(os.pardir) else candidates[close[0]]


def missing_config_message(path):
    """``config file not found: <path>``, with ``(did you mean <closest>?)`` when one is
    close (see :func:`closest_config`)."""
    close = closest_config(path)
    hint = f' (did you mean {close}?)' if close else ''
    return f'config file not found: {path}{hint}'


def known_keys():
    """Top-level config keys with a meaning to the runtime."""
    runner_args = [name for name in inspect.signature(Runner.__init__).parameters
                   if name not in ('self', 'cfg')]
    return set(runner_args) | set(RUNNER_CFG_KEYS) | set(PROJECT_KEYS)


def check_config_keys(cfg):
    """Raises ``ValueError`` naming every top-level key that is a near miss of a known key
    (``trian_cfg`` for ``train_cfg``), with the suggestion."""
    known = known_keys()
    typos = []
    for key in cfg.keys():
        if key in known:
            continue
        close = difflib.get_close_matches(key, known, n=1, cutoff=TYPO_CUTOFF)
        if close:
            typos.append(f'{key!r} (did you mean {close[0]!r}?)')
    if typos:
        raise ValueError(f'unknown config key{"s" if len(typos) > 1 else ""} '
                         f'{", ".join(typos)}')


# Python's message for a keyword argument a callable does not take.
UNEXPECTED_ARGUMENT = re.compile(r"got an unexpected keyword argument '(\w+)'")
# Similarity above which the accepted argument closest to a wrong one is suggested.
ARGUMENT_CUTOFF = 0.6


def accepted_arguments(cls):
    """The keyword arguments ``cls(...)`` accepts: its ``__init__``'s, and, while a class
    passes ``**kwargs`` on, those of the classes it inherits from (list of str)."""
    names = []
    for klass in inspect.getmro(cls) if inspect.isclass(cls) else (cls,):
        init = klass.__init__ if inspect.isclass(klass) else klass
        if init is object.__init__:
            break
        try:
            params = inspect.signature(init).parameters.values()
        except (TypeError, ValueError):  # builtins without a signature
            break
        names += [p.name for p in params if p.name != 'self' and p.kind in (
            p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break
    return list(dict.fromkeys(names))


def _build_locals(exc):
    """The local variables of the innermost call of mmengine's ``build_from_cfg`` in the
    traceback of ``exc`` (it names the registry and the class being built), or {}."""
    found, tb = {}, exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_name == 'build_from_cfg':
            found = tb.tb_frame.f_locals
        tb = tb.tb_next
    return found


def _as_dict(cfg):
    """A config as nested dicts and lists (an ``mmengine.Config`` is not a dict)."""
    return cfg.to_dict() if hasattr(cfg, 'to_dict') else cfg


def _paths_of_key(node, key, prefix=''):
    """Dotted paths of the dicts of a config tree that hold ``key``, each with the dict."""
    if isinstance(node, dict):
        if key in node:
            yield f'{prefix}{key}', node
        for name, value in node.items():
            yield from _paths_of_key(value, key, f'{prefix}{name}.')
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _paths_of_key(value, key, f'{prefix}{i}.')


def unexpected_argument_message(exc, cfg):
    """One line for a ``TypeError`` raised while mmengine built a module of ``cfg`` from a
    dict with a key its class does not take (a misspelt nested key such as
    ``model.decoder.topk_tset``): the key's place in the config, the class and the closest
    argument it does take. None for any other error.

    Args:
        exc (BaseException): the error.
        cfg (dict): the config being run.
    """
    match = UNEXPECTED_ARGUMENT.search(str(exc)) if isinstance(exc, TypeError) else None
    cls = _build_locals(exc).get('obj_cls') if match else None
    if cls is None:
        return None
    key = match.group(1)
    name = getattr(cls, '__name__', repr(cls))

    def given_to_cls(item):
        kind = item[1].get('type')
        return kind is cls or (isinstance(kind, str) and kind.split('.')[-1] == name)

    paths = [path for path, _ in filter(given_to_cls, _paths_of_key(_as_dict(cfg), key))]
    close = difflib.get_close_matches(key, accepted_arguments(cls), n=1,
                                      cutoff=ARGUMENT_CUTOFF)
    hint = f' (did you mean {close[0]!r}?)' if close else ''
    where = f'{paths[0]}: ' if paths else ''
    return f'{where}{name} takes no argument {key!r}{hint}'


def unregistered_type_message(exc, cfg):
    """One line for the ``KeyError`` mmengine raises when a config's ``type`` names no
    registered module (``type='SparseVoxelDecodr'``): its place in the config, the registry
    and the closest registered name. None for any other error."""
    found = _build_locals(exc) if isinstance(exc, KeyError) and 'registry' in str(exc) else {}
    registry, kind = found.get('registry'), found.get('obj_type')
    if registry is None or not isinstance(kind, str) or found.get('obj_cls') is not None:
        return None  # (the lookup of ``kind`` did not fail: obj_cls is None when it did)
    names = set()
    scope = registry
    while scope is not None:  # the registry, then the registries it falls back on
        names.update(scope.module_dict)
        scope = scope.parent
    paths = [path for path, node in _paths_of_key(_as_dict(cfg), 'type')
             if node['type'] == kind]
    close = difflib.get_close_matches(kind.split('.')[-1], names, n=1,
                                      cutoff=ARGUMENT_CUTOFF)
    hint = f' (did you mean {close[0]!r}?)' if close else ''
    where = f'{paths[0]}: ' if paths else ''
    return f'{where}{kind!r} is not a registered {registry.name} module{hint}'


def apply_total_batch_size(cfg, world_size):
    """Splits the optional top-level ``total_batch_size`` (samples per optimizer step over all
    processes) into ``train_dataloader.batch_size`` per process.

    Raises:
        ValueError: it does not divide by the number of processes.
    """
    total = cfg.get('total_batch_size')
    if total is None:
        return cfg
    if int(total) != total or total < 1 or total % world_size:
        raise ValueError(f'total_batch_size={total} is not a positive multiple of the '
                         f'{world_size} training processes')
    cfg.train_dataloader.batch_size = int(total) // world_size
    return cfg


def amp_fallback(cfg):
    """Replaces an ``AmpOptimWrapper`` by a plain ``OptimWrapper`` (with a warning) when no
    CUDA device exists, so mixed-precision configs also run on CPUs."""
    wrapper = cfg.get('optim_wrapper')
    if not wrapper or wrapper.get('type') != 'AmpOptimWrapper' or torch.cuda.is_available():
        return cfg
    warnings.warn('AmpOptimWrapper needs CUDA: training in float32 with OptimWrapper')
    wrapper.type = 'OptimWrapper'
    for key in ('loss_scale', 'dtype', 'use_fsdp'):  # AmpOptimWrapper-only options
        wrapper.pop(key, None)
    return cfg


def _dataset_cfgs(dataset):
    """A dataset config and those it wraps (``dataset=`` / ``datasets=``)."""
    if not dataset:
        return
    yield dataset
    yield from _dataset_cfgs(dataset.get('dataset'))
    for inner in dataset.get('datasets', None) or []:
        yield from _dataset_cfgs(inner)


def check_data_roots(cfg, loaders):
    """Raises ``FileNotFoundError`` for the first missing ``data_root`` of the datasets of
    the ``loaders`` (e.g. ``('train_dataloader',)``)."""
    for loader in loaders:
        for dataset in _dataset_cfgs((cfg.get(loader) or {}).get('dataset')):
            root = dataset.get('data_root')
            if root and not os.path.isdir(root):
                raise FileNotFoundError(
                    f'data root not found: {root} ({loader}; set it with --cfg-options '
                    f'{loader}.dataset.data_root=DIR)')


def check_checkpoint(path):
    """Raises ``FileNotFoundError`` / ``ValueError`` unless ``path`` looks like a complete
    torch checkpoint: torch saves a zip archive whose index sits at its end, so a truncated
    or foreign file fails here in milliseconds rather than deep inside loading."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f'checkpoint not found: {path}')
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            if any(name.endswith('data.pkl') for name in archive.namelist()):
                return
    else:
        with open(path, 'rb') as f:
            if f.read(1) == b'\x80':  # torch's legacy (pickle) format
                return
    raise ValueError(f'corrupt checkpoint (truncated or not saved by torch): {path}')


def configure_training(cfg):
    """The runtime ``train.py`` adds to a config (all registered in ``engine``):

    - checkpoints written atomically: the config's ``CheckpointHook`` becomes an
      ``AtomicCheckpointHook`` (same options; every epoch unless the config says otherwise);
    - epoch-based training through ``ResumableEpochBasedTrainLoop`` and its sampler
      wrapper, so interrupted runs resume exactly;
    - ``InterruptCheckpointHook`` (SIGINT / SIGTERM) and ``NonFiniteLossHook``
      (``nonfinite_loss``: ``'stop'``, the default, or ``'skip'``);
    - TensorBoard scalars beside mmengine's local logs when the config sets no visualizer
      and tensorboard is installed.
    """
    imports = cfg.get('custom_imports') or dict(imports=[], allow_failed_imports=False)
    if 'engine' not in imports['imports']:  # the saved config builds elsewhere too
        imports['imports'] = list(imports['imports']) + ['engine']
    cfg.custom_imports = imports

    hooks = cfg.setdefault('default_hooks', {})
    checkpoint = hooks.get('checkpoint') or dict(type='CheckpointHook', interval=1)
    if checkpoint.get('type') in ('CheckpointHook', None):
        checkpoint['type'] = 'AtomicCheckpointHook'
    hooks['checkpoint'] = checkpoint

    train_cfg = cfg.get('train_cfg') or {}
    if 'type' not in train_cfg and train_cfg.get('by_epoch'):
        train_cfg.pop('by_epoch')
        train_cfg['type'] = 'ResumableEpochBasedTrainLoop'
        loader = cfg.train_dataloader
        loader['sampler'] = dict(type='ResumableSampler', sampler=loader.get(
            'sampler', dict(type='DefaultSampler', shuffle=True)))
    cfg.train_cfg = train_cfg

    custom = list(cfg.get('custom_hooks') or [])
    present = {hook.get('type') for hook in custom}
    if 'InterruptCheckpointHook' not in present:
        custom.append(dict(type='InterruptCheckpointHook'))
    if 'NonFiniteLossHook' not in present:
        custom.append(dict(type='NonFiniteLossHook', mode=cfg.get('nonfinite_loss', 'stop')))
    cfg.custom_hooks = custom

    if cfg.get('visualizer') is None and _tensorboard_available():
        cfg.visualizer = dict(type='Visualizer', vis_backends=[
            dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')])
    return cfg


def _tensorboard_available():
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        return False
    return True
