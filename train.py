"""Trains a GD-OCC config with mmengine's Runner.

    python train.py --config configs/<cfg>.py                       # one process
    torchrun --nproc_per_node 8 train.py --config configs/<cfg>.py  # DDP
    python train.py --config C --resume               # continue from the last checkpoint
    python train.py --config C --cfg-options train_cfg.max_epochs=2

Besides the config, the runtime adds (``engine.config.configure_training``): atomic
checkpoints (every epoch by default, ``default_hooks.checkpoint.max_keep_ckpts`` kept), an
``interrupted.pth`` checkpoint on SIGINT / SIGTERM (exit code 128 + signal), exact resumption
(also mid-epoch), a non-finite loss guard (``nonfinite_loss = 'stop' | 'skip'``) and
TensorBoard scalars. ``total_batch_size`` (optional) is split over the processes.
"""
import argparse
import os
import sys

from mmengine.runner import Runner

import engine  # noqa: F401 -- registers the runtime's hooks, loop and sampler
from engine.config import amp_fallback, apply_total_batch_size, configure_training
from engine.hooks import (LAST_CHECKPOINT_FILE, CheckpointWriteError, NonFiniteLossError,
                          TrainingInterrupted)
from engine.runtime import (add_common_arguments, fail, one_line_errors, prepare_config,
                            require_checkpoint, require_data_roots)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a GD-OCC model')
    parser.add_argument('--config', required=True, help='config file')
    parser.add_argument('--resume', nargs='?', const='auto', default=None, metavar='CKPT',
                        help='resume from CKPT, or from the last checkpoint of the work dir')
    add_common_arguments(parser)
    return parser.parse_args(argv)


def resolve_resume(cfg, resume):
    """Sets ``cfg.resume`` / ``cfg.load_from`` from ``--resume`` and checks the checkpoint it
    will load (the explicit one, or the one ``<work_dir>/last_checkpoint`` names)."""
    if resume == 'auto':
        cfg.resume, cfg.load_from = True, None
        pointer = os.path.join(cfg.work_dir, LAST_CHECKPOINT_FILE)
        if os.path.isfile(pointer):
            with open(pointer) as f:
                require_checkpoint(f.read().strip())
    elif resume:
        require_checkpoint(resume)
        cfg.resume, cfg.load_from = True, resume
    elif cfg.get('load_from'):
        require_checkpoint(cfg.load_from)


def main(argv=None):
    args = parse_args(argv)
    cfg = prepare_config(args)
    if 'model' not in cfg or 'train_dataloader' not in cfg:
        fail(f'{args.config} defines no model or train_dataloader to train')
    resolve_resume(cfg, args.resume)
    try:
        apply_total_batch_size(cfg, int(os.environ.get('WORLD_SIZE', 1)))
    except ValueError as exc:
        fail(str(exc))
    require_data_roots(cfg, ('train_dataloader', 'val_dataloader'))
    configure_training(amp_fallback(cfg))
    try:
        with one_line_errors(cfg, args.debug):
            Runner.from_cfg(cfg).train()
    except TrainingInterrupted as exc:
        sys.stderr.write(f'{exc}\n')
        sys.exit(exc.exit_code)
    except (NonFiniteLossError, CheckpointWriteError) as exc:
        fail(str(exc))


if __name__ == '__main__':
    main()
