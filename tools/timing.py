#!/usr/bin/env python
"""Inference latency and peak memory of a config's model, one sample at a time.

Example::

    python tools/timing.py --config configs/r50_nuimg_704x256_8f.py --weights ckpt.pth \\
        --samples 200 --device cuda

Inputs are the config's test split, in order (consecutive keyframes, so the online feature
cache works as in evaluation), when its data root and info file exist; otherwise (or with
``--random``) synthetic samples of the config's shapes (``num_frames`` x ``num_cams``
images of ``image_size``, a consistent camera rig, consecutive frame ids). Loading and
augmenting a sample is not timed: the clock covers ``model.test_step`` (normalisation,
model, prediction to numpy), synchronised on CUDA. The first ``--warmup`` samples are run
but not timed.

Peak memory: CUDA ``max_memory_allocated`` over the timed samples, or on the CPU the
process's peak resident set size (``ru_maxrss``, start-up included).

``--amp float16`` / ``bfloat16`` runs the model under ``torch.autocast`` of that dtype (what
AMP does in training); the compiled ops compute in float32 at their boundary either way.
``--json PATH`` also writes the result dict.
"""
import argparse
import contextlib
import json
import os
import resource
import sys
import time

import torch
from mmengine.config import DictAction
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint
from mmengine.utils import ProgressBar

from engine.runtime import allow_mmengine_checkpoints, fail, load_config
from tools.shared.synthetic_batch import packed_sample


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Time GD-OCC inference per sample')
    parser.add_argument('--config', required=True, help='config file')
    parser.add_argument('--weights', help='checkpoint (default: random initialisation)')
    parser.add_argument('--samples', type=int, default=100, help='timed samples')
    parser.add_argument('--warmup', type=int, default=5, help='untimed samples first')
    parser.add_argument('--device', choices=['cpu', 'cuda'], default=None,
                        help='default: cuda when available')
    parser.add_argument('--random', action='store_true',
                        help='synthetic inputs even when the config\'s data exist')
    parser.add_argument('--amp', choices=('float16', 'bfloat16'), default=None,
                        help='run under torch.autocast of this dtype (default: float32)')
    parser.add_argument('--json', metavar='PATH', help='also write the result as JSON')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, metavar='KEY=VALUE',
                        help='override config entries')
    return parser.parse_args(argv)


def dataset_exists(cfg):
    """Whether the config's test split can be read (data root and info file on disk)."""
    dataset = cfg.get('test_dataloader', {}).get('dataset')
    if not dataset or 'data_root' not in dataset or 'ann_file' not in dataset:
        return False
    return os.path.isfile(os.path.join(dataset['data_root'], dataset['ann_file']))


def real_samples(cfg, count):
    """The first ``count`` samples of the test split, in order, as 1-sample batches."""
    from mmdet3d.registry import DATASETS
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    if len(dataset) < count:
        fail(f'the test split has {len(dataset)} samples, {count} requested')
    for index in range(count):
        yield pseudo_collate([dataset[index]])


def random_samples(cfg, count):
    """``count`` synthetic 1-sample batches of the config's shapes; sample i's frames are
    i, i - 1, ... so consecutive samples share frames like consecutive keyframes."""
    missing = [k for k in ('num_frames', 'image_size') if k not in cfg]
    if missing:
        fail(f'random inputs need the config keys {missing} (the dataset bases define them)')
    for index in range(count):
        frames = [index - t for t in range(cfg.num_frames)]
        sample = packed_sample(cfg.num_frames, cfg.num_cams, cfg.image_size,
                               frame_ids=frames, seed=index)
        yield pseudo_collate([sample])


def peak_memory_mb(device):
    """Peak memory in MiB (see the module docstring) and its description."""
    if device.type == 'cuda':
        return torch.cuda.max_memory_allocated(device) / 2 ** 20, 'CUDA max allocated'
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 'CPU peak RSS'


def time_model(cfg, weights=None, samples=100, warmup=5, device=None, use_random=False,
               progress=True, amp=None):
    """Runs the timing.

    Args:
        amp (str, optional): 'float16' or 'bfloat16': run under ``torch.autocast``.

    Returns:
        dict: ``latency_ms`` (mean per timed sample), ``fps``, ``peak_memory_mb``,
        ``memory_kind``, ``samples``, ``inputs`` ('dataset' or 'random'), ``device``,
        ``precision`` ('float32' or the autocast dtype).
    """
    from mmdet3d.registry import MODELS
    if samples < 1 or warmup < 0:
        fail('--samples must be >= 1 and --warmup >= 0')
    device = torch.device(device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    if device.type == 'cuda' and not torch.cuda.is_available():
        fail('--device cuda, but torch sees no GPU')
    init_default_scope(cfg.get('default_scope', 'mmdet3d'))
    model = MODELS.build(cfg.model)
    if weights:
        if not os.path.isfile(weights):
            fail(f'checkpoint not found: {weights}')
        allow_mmengine_checkpoints()
        load_checkpoint(model, weights, map_location='cpu', strict=True)
    model.to(device).eval()

    use_dataset = not use_random and dataset_exists(cfg)
    make = real_samples if use_dataset else random_samples
    bar = ProgressBar(warmup + samples) if progress else None
    elapsed = 0.0
    autocast = (torch.autocast(device.type, dtype=getattr(torch, amp)) if amp
                else contextlib.nullcontext())
    with torch.no_grad(), autocast:
        for index, batch in enumerate(make(cfg, warmup + samples)):
            if index == warmup and device.type == 'cuda':
                torch.cuda.reset_peak_memory_stats(device)
            if device.type == 'cuda':
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            model.test_step(batch)
            if device.type == 'cuda':
                torch.cuda.synchronize(device)
            if index >= warmup:
                elapsed += time.perf_counter() - start
            if bar:
                bar.update()
    if bar:
        sys.stdout.write('\n')
    memory, kind = peak_memory_mb(device)
    latency = elapsed / samples
    return dict(latency_ms=1000 * latency, fps=1 / latency, peak_memory_mb=memory,
                memory_kind=kind, samples=samples,
                inputs='dataset' if use_dataset else 'random', device=str(device),
                precision=amp or 'float32')


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    result = time_model(cfg, args.weights, args.samples, args.warmup, args.device,
                        args.random, not args.no_progress, args.amp)
    print(f'{os.path.basename(args.config)}: {result["samples"]} samples '
          f'({result["inputs"]} inputs, {result["precision"]}) on {result["device"]}: '
          f'{result["latency_ms"]:.1f} ms / sample, {result["fps"]:.2f} FPS, '
          f'peak memory {result["peak_memory_mb"]:.0f} MiB ({result["memory_kind"]})')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == '__main__':
    main()
