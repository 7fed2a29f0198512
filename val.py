"""Evaluates a GD-OCC checkpoint (RayIoU, mIoU; RayPQ for panoptic configs).

    python val.py --config configs/<cfg>.py --weights ckpt.pth [--out metrics.json]
    torchrun --nproc_per_node 8 val.py --config C --weights W
"""
import argparse
import os

from mmengine.config import DictAction
from mmengine.runner import Runner

from models.runtime import fail, prepare_config


def parse_args():
    parser = argparse.ArgumentParser(description='Evaluate a GD-OCC checkpoint')
    parser.add_argument('--config', required=True, help='config file')
    parser.add_argument('--weights', required=True, help='checkpoint file')
    parser.add_argument('--out', help='write the metrics as JSON here')
    parser.add_argument('--work-dir', help='where logs go (default: work_dirs/<config name>)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, metavar='KEY=VALUE',
                        help='override config entries')
    return parser.parse_args()


def main():
    args = parse_args()
    if not os.path.isfile(args.weights):
        fail(f'checkpoint not found: {args.weights}')
    cfg = prepare_config(args)
    if 'test_dataloader' not in cfg or 'test_evaluator' not in cfg:
        fail(f'{args.config} defines no test_dataloader / test_evaluator')
    cfg.load_from = args.weights
    if args.out:
        evaluators = cfg.test_evaluator if isinstance(cfg.test_evaluator, list) \
            else [cfg.test_evaluator]
        for evaluator in evaluators:
            if evaluator.get('type') == 'OccupancyMetric':
                evaluator['out_file'] = args.out
    Runner.from_cfg(cfg).test()


if __name__ == '__main__':
    main()
