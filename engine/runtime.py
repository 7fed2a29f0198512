"""Plumbing shared by the entry points (train.py, val.py): configs, launchers and the
one-line report of bad input."""
import atexit
import contextlib
import gc
import os
import re
import sys

import torch
from mmengine.config import Config

from .config import (check_checkpoint, check_config_keys, check_data_roots, missing_config_message,
                     unexpected_argument_message, unregistered_type_message)

# Set (to anything but '' / '0') to see the traceback behind a one-line error (= --debug).
DEBUG_ENV = 'GDOCC_DEBUG'
# The loaders whose datasets are searched for the sample a bad data file belongs to.
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
# The last line of a dataloader worker's traceback, as torch passes it to the main process.
WORKER_DATA_ERROR = re.compile(r'^(?:[\w.]+\.)?(DataFileError|FileNotFoundError): (.*)$',
                               re.MULTILINE)


def fail(message):
    """Exits the program with a one-line error (exit code 1)."""
    sys.exit(f'error: {message}')


def load_config(path, cfg_options=None):
    """Reads an mmengine config and applies ``--cfg-options`` overrides.

    Args:
        path (str): config file.
        cfg_options (dict, optional): dotted keys -> values.

    Returns:
        mmengine.Config
    """
    if not os.path.isfile(path):
        fail(missing_config_message(path))
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def slurm_environment(environ=os.environ):
    """torchrun's variables (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``,
    ``MASTER_PORT``) for a task that ``srun`` started, one task per device: from
    ``SLURM_PROCID``, ``SLURM_LOCALID``, ``SLURM_NTASKS`` and the job's first node
    (``scontrol show hostnames``), unless ``MASTER_ADDR`` / ``MASTER_PORT`` (default 29500)
    are set. The same mapping as mmengine's slurm launcher, which cannot run on CPU torch.

    Returns:
        dict: str -> str, to be merged into ``os.environ``.
    """
    import subprocess

    missing = [k for k in ('SLURM_PROCID', 'SLURM_LOCALID', 'SLURM_NTASKS') if k not in environ]
    if missing:
        raise RuntimeError(f'--launcher slurm outside a srun task ({", ".join(missing)} '
                           f'unset)')
    master = environ.get('MASTER_ADDR')
    if not master:
        nodes = environ.get('SLURM_JOB_NODELIST') or environ['SLURM_NODELIST']
        master = subprocess.run(['scontrol', 'show', 'hostnames', nodes], check=True,
                                capture_output=True, text=True).stdout.split()[0]
    return dict(RANK=environ['SLURM_PROCID'], LOCAL_RANK=environ['SLURM_LOCALID'],
                WORLD_SIZE=environ['SLURM_NTASKS'], MASTER_ADDR=master,
                MASTER_PORT=environ.get('MASTER_PORT', '29500'))


def configure_launcher(cfg, launcher=None):
    """Chooses the launcher: ``'slurm'`` (a ``srun`` task: SLURM's variables become
    torchrun's, :func:`slurm_environment`), else from the environment: torchrun sets
    LOCAL_RANK, which means one process per device under DDP (NCCL on GPUs, gloo on CPUs);
    plain python is one process. On CPUs (no CUDA) it also joins the process group and
    makes DDP wrap CPU modules, two things mmengine's launcher does for GPUs only. A
    distributed process leaves the group at exit (:func:`destroy_process_group`)."""
    if launcher == 'slurm':
        os.environ.update(slurm_environment())
    distributed = 'LOCAL_RANK' in os.environ
    cfg.launcher = 'pytorch' if distributed else 'none'
    env_cfg = cfg.setdefault('env_cfg', {})
    dist_cfg = env_cfg.setdefault('dist_cfg', {})
    dist_cfg['backend'] = 'nccl' if torch.cuda.is_available() else 'gloo'
    if distributed:
        atexit.register(destroy_process_group)
    if distributed and not torch.cuda.is_available():
        init_cpu_process_group()
        # mmengine passes device_ids=[LOCAL_RANK] to DDP, which CPU modules refuse.
        wrapper = cfg.get('model_wrapper_cfg') or dict(
            type='MMDistributedDataParallel', broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
        wrapper.setdefault('device_ids', None)
        cfg.model_wrapper_cfg = wrapper
    return cfg


def collect_through_process_group(cfg):
    """Makes the evaluators gather the ranks' per-sample results through the process group
    (mmengine's ``collect_device='gpu'``: gloo's CPU tensors where there is no GPU) unless
    the config chose otherwise. mmengine's default, ``'cpu'``, exchanges them as files in
    ``./.dist_test/``, which it never removes and which an aborted run leaves filled."""
    for key in ('val_evaluator', 'test_evaluator'):
        evaluators = cfg.get(key)
        for evaluator in evaluators if isinstance(evaluators, list) else [evaluators]:
            if isinstance(evaluator, dict) and 'collect_dir' not in evaluator:
                evaluator.setdefault('collect_device', 'gpu')
    return cfg


def init_cpu_process_group():
    """Joins torchrun's process group with gloo. mmengine's 'pytorch' launcher would call
    ``torch.cuda.set_device``, which fails on CPU builds of torch; the Runner skips its own
    initialisation when a process group exists."""
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')


def destroy_process_group():
    """Leaves the process group, if one was joined, and frees it (registered at exit under
    torchrun), so that gloo's threads are joined while the interpreter is whole.

    ``dist.destroy_process_group`` only drops torch's own references: the Runner keeps the
    group alive through its DDP wrapper, in reference cycles that only a garbage
    collection frees. Measured after the atexit call, without the collection: gloo's three
    threads (``gloo_tcp_loop``, 2 x ``pt_gloo_runloop``) still ran, so the group was torn
    down, if at all, during interpreter finalization, in whatever order modules and C++
    objects went away; a 2-process val.py then aborted now and then at exit ("terminate
    called without an active exception"), failing the torchrun job.

    The collection must not be what destroys the group: the DDP reducer it frees drops its
    reference with the GIL held, and gloo's destructor then joins its worker threads while a
    worker may need the GIL (to free a finished work's Python-owned tensors, or to run a
    future's Python callback): a deadlock, seen as a 2-process val.py whose rank 0 never exited
    after writing its results. torch releases the GIL when the last *Python* reference to a
    process group goes, so the group is held here until the collection is done.
    """
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        group = dist.group.WORLD
        dist.destroy_process_group()
        gc.collect()
        del group


def default_work_dir(config_path):
    """work_dirs/<config name>, as in mmdetection3d."""
    return os.path.join('work_dirs', os.path.splitext(os.path.basename(config_path))[0])


def allow_mmengine_checkpoints():
    """Lets mmengine read its own checkpoints under torch >= 2.6.

    torch.load now defaults to ``weights_only=True``; mmengine 0.10 calls it without the
    argument, and its checkpoints carry the message hub (log buffers, numpy values pickled
    through ``getattr``), which the weights-only unpickler refuses. Checkpoints given to the
    entry points are the user's own files, so the pre-2.6 behaviour is restored for them.
    """
    os.environ.setdefault('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')


def add_common_arguments(parser):
    """The options train.py and val.py share: ``--work-dir``, ``--cfg-options``,
    ``--launcher`` and ``--debug``."""
    from mmengine.config import DictAction

    parser.add_argument('--work-dir', help='where logs (and checkpoints) go '
                        '(default: work_dirs/<config name>)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, metavar='KEY=VALUE',
                        help='override config entries, e.g. train_cfg.max_epochs=2')
    parser.add_argument('--launcher', choices=('auto', 'slurm'), default='auto',
                        help='auto: torchrun or one process; slurm: one srun task per device '
                             '(tools/slurm_train.sh)')
    parser.add_argument('--debug', action='store_true',
                        help=f'show the traceback behind a one-line error (or {DEBUG_ENV}=1)')


def prepare_config(args):
    """The config an entry point runs: ``args.config`` loaded with ``args.cfg_options``,
    the launcher chosen from ``args.launcher`` and the environment, ``work_dir`` resolved
    (``args.work_dir``, else the config's, else work_dirs/<config name>), evaluators that
    write no files (:func:`collect_through_process_group`), and mmengine checkpoints made
    loadable. Misspelt top-level keys (``trian_cfg``) fail here, with one line."""

    allow_mmengine_checkpoints()
    cfg = load_config(args.config, args.cfg_options)
    try:
        check_config_keys(cfg)
    except ValueError as exc:
        fail(f'{args.config}: {exc}')
    try:
        cfg = configure_launcher(cfg, getattr(args, 'launcher', 'auto'))
    except RuntimeError as exc:
        fail(str(exc))
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or default_work_dir(args.config)
    return collect_through_process_group(cfg)


def require_checkpoint(path):
    """Fails with one line unless ``path`` is a complete torch checkpoint."""

    try:
        check_checkpoint(path)
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))


def require_data_roots(cfg, loaders):
    """Fails with one line when a dataset of the ``loaders`` has a missing ``data_root``."""

    try:
        check_data_roots(cfg, loaders)
    except FileNotFoundError as exc:
        fail(str(exc))


def debugging(debug=False):
    """Whether tracebacks are shown: ``--debug`` or the environment variable ``GDOCC_DEBUG``."""
    return debug or os.environ.get(DEBUG_ENV, '') not in ('', '0')


def _peer_failure_line(exc):
    """One line for a collective that failed because another process of the job stopped
    (gloo: "Connection closed by peer"): that process has printed its own error; None for
    other errors or outside a process group of several processes."""
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return None
    text = str(exc)
    if not (isinstance(exc, dist.DistError) or 'closed by peer' in text):
        return None
    return (f'rank {dist.get_rank()}: another process of the job stopped (its error is above); '
            f'{text.splitlines()[0][:200]}')


def _data_error_line(exc):
    """``(message, path)`` of a data-file error: a ``DataFileError`` / ``FileNotFoundError``
    raised in this process, or one a dataloader worker raised (torch passes it on as another
    exception whose message holds the worker's traceback); None for other errors."""
    from core.errors import DataFileError

    if isinstance(exc, (DataFileError, FileNotFoundError)) and getattr(exc, 'filename', None):
        message = str(exc)
        if isinstance(exc, FileNotFoundError) and exc.strerror:
            message = f'{exc.strerror}: {exc.filename}'
        return message, str(exc.filename)
    if 'DataLoader worker' not in str(exc):
        return None
    found = WORKER_DATA_ERROR.findall(str(exc))
    if not found:
        return None
    kind, message = found[-1]
    if kind == 'FileNotFoundError':  # "[Errno 2] <what> not found: '<path>'"
        what = re.match(r"^(?:\[Errno \d+\] )?(.*): '(.*)'$", message)
        return (f'{what.group(1)}: {what.group(2)}', what.group(2)) if what else (message, None)
    return message, message  # "<path>: <reason>": the path is a prefix, see _sample_of_file


def _strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _strings(value)


def _sample_of_file(cfg, path):
    """``'sample <token> (index i of <loader>)'`` for the first keyframe of the config's
    datasets whose info names ``path`` (or a path that ``path`` starts with, followed by
    ``': '``), else None. The datasets are built anew from the config: an error path."""
    from mmengine.registry import DATASETS, init_default_scope

    init_default_scope(cfg.get('default_scope') or 'mmdet3d')
    for loader in LOADERS:
        dataset_cfg = (cfg.get(loader) or {}).get('dataset')
        if not dataset_cfg:
            continue
        try:
            dataset = DATASETS.build(dataset_cfg)
            infos = [dataset.get_data_info(i) for i in range(len(dataset))]
        except Exception:  # noqa: BLE001 -- the dataset itself may be what is broken
            continue
        for index, info in enumerate(infos):
            if any(path == s or path.startswith(f'{s}: ') for s in _strings(info)
                   if os.sep in s):
                token = info.get('token', info.get('sample_token'))
                return f'sample {token} (index {index} of {loader})'
    return None


@contextlib.contextmanager
def one_line_errors(cfg, debug=False):
    """Ends the program with one line (exit code 1, no traceback) on bad input met while
    the Runner builds and runs ``cfg``: a config key a module does not take (its place, the
    class and the closest argument), a type no registry holds, an unusable or missing data
    file (the file, the reason and the sample it belongs to), whether raised here or in a
    dataloader worker. ``debug`` (or ``GDOCC_DEBUG=1``) lets the traceback through."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 -- re-raised unless recognised
        if debugging(debug):
            raise
        message = unexpected_argument_message(exc, cfg) or unregistered_type_message(exc, cfg)
        data = None if message else _data_error_line(exc)
        if data:
            message, path = data
            sample = _sample_of_file(cfg, path) if path else None
            message += f' [{sample}]' if sample else ''
        if message is None:
            peer = _peer_failure_line(exc)
            if peer is None:
                raise
            fail(peer)
        fail(f'{message} (--debug shows the traceback)')
