"""Evaluates a GD-OCC checkpoint: RayIoU (@1, @2, @4 m, per class), mIoU; RayPQ for panoptic
configs (``OccupancyMetric(panoptic=True)``).

    python val.py --config configs/<cfg>.py --weights ckpt.pth [--out metrics.json]
    python val.py --config C --weights W --save-pred DIR   # DIR/<sample_token>.npz
    torchrun --nproc_per_node 8 val.py --config C --weights W

``--weights`` loads strictly: a checkpoint whose keys do not fit the config's model ends with
one line giving the numbers of missing and unexpected keys (``--non-strict`` loads what fits).
The metrics are summed from per-sample statistics, so 1 and N processes agree exactly;
``python tools/ray_metrics.py --pred-dir DIR`` scores the saved predictions the same.
"""
import argparse

from mmengine.dist import is_main_process
from mmengine.runner import Runner

import engine  # noqa: F401 -- registers SavePredictionHook, ProgressBarHook
from engine.runtime import (add_common_arguments, fail, one_line_errors, prepare_config,
                            require_checkpoint, require_data_roots)
from engine.weights import WeightsMismatchError, load_weights


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Evaluate a GD-OCC checkpoint')
    parser.add_argument('--config', required=True, help='config file')
    parser.add_argument('--weights', required=True, help='checkpoint file')
    parser.add_argument('--non-strict', action='store_true',
                        help='load a checkpoint whose keys do not all fit the model (warning)')
    parser.add_argument('--out', help='write the metrics (and per-class RayIoU) as JSON here')
    parser.add_argument('--save-pred', metavar='DIR',
                        help='also write each prediction to DIR/<sample_token>.npz (key pred)')
    parser.add_argument('--no-progress', action='store_true', help='hide the progress bar')
    add_common_arguments(parser)
    return parser.parse_args(argv)


def configure_evaluation(cfg, out=None, save_pred=None, progress=True):
    """The test-time settings of ``val.py``: write the metrics JSON to ``out``, predictions
    to ``save_pred``. The weights are not the Runner's ``load_from`` (mmengine loads that
    non-strictly): ``main`` loads them with ``engine.weights.load_weights``."""
    cfg.load_from = None
    if out:
        evaluators = cfg.test_evaluator if isinstance(cfg.test_evaluator, list) \
            else [cfg.test_evaluator]
        for evaluator in evaluators:
            if evaluator.get('type') == 'OccupancyMetric':
                evaluator['out_file'] = out
    hooks = list(cfg.get('custom_hooks') or [])
    if save_pred:
        hooks.append(dict(type='SavePredictionHook', out_dir=save_pred))
    if progress:
        hooks.append(dict(type='ProgressBarHook'))
    cfg.custom_hooks = hooks
    return cfg


def main(argv=None):
    args = parse_args(argv)
    cfg = prepare_config(args)
    require_checkpoint(args.weights)
    if 'test_dataloader' not in cfg or 'test_evaluator' not in cfg:
        fail(f'{args.config} defines no test_dataloader / test_evaluator')
    require_data_roots(cfg, ('test_dataloader',))
    configure_evaluation(cfg, args.out, args.save_pred, not args.no_progress)
    with one_line_errors(cfg, args.debug):
        runner = Runner.from_cfg(cfg)
        try:
            load_weights(runner.model, args.weights, strict=not args.non_strict)
        except WeightsMismatchError as exc:
            fail(str(exc))
        metrics = runner.test()
    if is_main_process():
        print(' '.join(f'{key}={value:.4f}' for key, value in metrics.items()
                       if isinstance(value, float)))


if __name__ == '__main__':
    main()
