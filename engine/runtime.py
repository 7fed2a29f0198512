"""Plumbing shared by the entry points (train.py, val.py): configs and launchers."""
import atexit
import os
import sys

import torch
from mmengine.config import Config

from .config import check_checkpoint, check_config_keys, check_data_roots, missing_config_message


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


def configure_launcher(cfg):
    """Chooses the launcher from the environment: torchrun sets LOCAL_RANK, which means one
    process per device under DDP (NCCL on GPUs, gloo on CPUs); plain python is one process.
    On CPUs (no CUDA) it also joins the process group and makes DDP wrap CPU modules, two
    things mmengine's launcher does for GPUs only. Under torchrun the process leaves the
    group at exit (:func:`destroy_process_group`)."""
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


def init_cpu_process_group():
    """Joins torchrun's process group with gloo. mmengine's 'pytorch' launcher would call
    ``torch.cuda.set_device``, which fails on CPU builds of torch; the Runner skips its own
    initialisation when a process group exists."""
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')


def destroy_process_group():
    """Leaves the process group, if one was joined (registered at exit under torchrun), as
    torch asks. Otherwise the group is torn down during interpreter shutdown; one 2-process
    gloo val.py run of the test suite aborted at its end ("terminate called without an
    active exception"), which fails the whole torchrun job."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


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


def prepare_config(args):
    """The config an entry point runs: ``args.config`` loaded with ``args.cfg_options``,
    the launcher chosen from the environment, ``work_dir`` resolved (``args.work_dir``, else
    the config's, else work_dirs/<config name>), and mmengine checkpoints made loadable.
    Misspelt top-level keys (``trian_cfg``) fail here, with one line."""

    allow_mmengine_checkpoints()
    cfg = load_config(args.config, args.cfg_options)
    try:
        check_config_keys(cfg)
    except ValueError as exc:
        fail(f'{args.config}: {exc}')
    cfg = configure_launcher(cfg)
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or default_work_dir(args.config)
    return cfg


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
