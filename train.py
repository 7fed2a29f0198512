"""Trains a GD-OCC config with mmengine's Runner.

    python train.py --config configs/<cfg>.py                       # one process
    torchrun --nproc_per_node 8 train.py --config configs/<cfg>.py  # DDP
    python train.py --config C --resume               # continue from the last checkpoint
    python train.py --config C --cfg-options train_cfg.max_epochs=2
"""
import argparse

from mmengine.config import DictAction
from mmengine.runner import Runner

from models.runtime import fail, prepare_config


def parse_args():
    parser = argparse.ArgumentParser(description='Train a GD-OCC model')
    parser.add_argument('--config', required=True, help='config file')
    parser.add_argument('--work-dir', help='where logs and checkpoints go '
                        '(default: work_dirs/<config name>)')
    parser.add_argument('--resume', nargs='?', const='auto', default=None, metavar='CKPT',
                        help='resume from CKPT, or from the last checkpoint of the work dir')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, metavar='KEY=VALUE',
                        help='override config entries, e.g. train_cfg.max_epochs=2')
    return parser.parse_args()


def main():
    args = parse_args()
    cfg = prepare_config(args)
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume:
        cfg.resume, cfg.load_from = True, args.resume
    if 'model' not in cfg or 'train_dataloader' not in cfg:
        fail(f'{args.config} defines no model or train_dataloader to train')
    Runner.from_cfg(cfg).train()


if __name__ == '__main__':
    main()
