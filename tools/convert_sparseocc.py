#!/usr/bin/env python
"""Converts a SparseOcc checkpoint (github.com/MCG-NJU/SparseOcc, e.g. its released
``sparseocc_r50_nuimg_704x256_8f_24e_v1.1.pth``) into an mmengine checkpoint of this
codebase's model configured as SparseOcc (``configs/sparseocc_r50_nuimg_704x256_8f.py``).

Example::

    python tools/convert_sparseocc.py sparseocc_r50_nuimg_704x256_8f_24e_v1.1.pth \\
        work_dirs/sparseocc_24e.pth
    torchrun --nproc_per_node 8 val.py --config configs/sparseocc_r50_nuimg_704x256_8f.py \\
        --weights work_dirs/sparseocc_24e.pth

Strict both ways: every SparseOcc parameter lands on a parameter of the model built from
``--config`` with the same shape, and every parameter of that model is filled; otherwise
nothing is written and the keys are listed with the reason. The conventions that the model
may configure differently from SparseOcc are folded into the weights (a decoder whose
``child_order`` is ``'xyz'``: the lift's 8 blocks are permuted; ``voxel_anchor='centre'``:
the position encoding's first bias and the head's offset bias absorb the half-voxel shift);
the others (pixel convention, visibility, level-weight layout) are the model's own switches
and must be SparseOcc's for its outputs (docs/sparseocc_parity.md). The output's ``meta``
names the source file, its SHA-256 and the config.
"""
import argparse
import hashlib
import os
import re
import sys
from collections import OrderedDict

import torch

from core.atomic_file import atomic_path

DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                              'configs', 'sparseocc_r50_nuimg_704x256_8f.py')
VOXEL_DECODER = 'pts_bbox_head.transformer.voxel_decoder.'
MASK_DECODER = 'pts_bbox_head.transformer.decoder.'

# SparseOcc's key -> this codebase's (regular expressions, first match wins). mmcv's FFN is
# Sequential(Sequential(Linear, ReLU, Dropout), Linear, Dropout); here it is flat.
_FFN = [(r'ffn\.layers\.0\.0\.', 'ffn.0.'), (r'ffn\.layers\.1\.', 'ffn.3.')]
_STAGE = [
    (r'position_encoder\.', 'pos_encoder.'),
    (r'self_attn\.attention\.attn\.in_proj_(weight|bias)$', r'self_attn.qkv.\1'),
    (r'self_attn\.attention\.attn\.out_proj\.', 'self_attn.proj.'),
    (r'self_attn\.gen_tau\.', 'self_attn.gen_tau.'),
    (r'sampling\.sampling_offset\.', 'sampling.sampling_offsets.'),
    (r'sampling\.scale_weights\.', 'sampling.scale_weights.'),
    (r'mixing\.', 'mixing.'),
    (r'norm1\.', 'norm_attn.'), (r'norm2\.', 'norm_mix.'), (r'norm3\.', 'norm_ffn.'),
] + _FFN
_QUERY_LAYER = [
    (r'self_attn\.self_attn\.', 'layer.self_attn.'),
    (r'sampling\.offset\.', 'layer.sampling_offsets.'),
    (r'sampling\.scale_weights\.', 'layer.scale_weights.'),
    (r'mixing\.', 'layer.mixing.'),
    (r'norm1\.', 'layer.norm_attn.'), (r'norm2\.', 'layer.norm_mix.'),
    (r'norm3\.', 'layer.norm_ffn.'),
    (r'mask_proj\.', 'mask_proj.'), (r'classifier\.', 'classifier.'),
] + [(pattern, 'layer.' + target) for pattern, target in _FFN]


class ConversionError(ValueError):
    """The input is not a SparseOcc checkpoint, or it does not fit the target model."""


def target_key(key):
    """This codebase's name of SparseOcc parameter ``key``, or None for a key it has no
    place for."""
    simple = [(r'^img_backbone\.', 'img_encoder.backbone.'), (r'^img_neck\.', 'img_encoder.neck.')]
    for pattern, repl in simple:
        if re.match(pattern, key):
            return re.sub(pattern, repl, key)
    if key.startswith(VOXEL_DECODER):
        rest = key[len(VOXEL_DECODER):]
        match = re.match(r'decoder_layers\.(\d+)\.(.*)$', rest)
        if match:
            return _apply(_STAGE, match.group(2), f'decoder.layers.{match.group(1)}.')
        match = re.match(r'lift_feat_heads\.(\d+)\.0\.(weight|bias)$', rest)
        if match:
            return f'decoder.lifts.{match.group(1)}.0.{match.group(2)}'
        match = re.match(r'seg_pred_heads\.(\d+)\.(weight|bias)$', rest)
        if match:
            return f'decoder.classifiers.{match.group(1)}.{match.group(2)}'
        return None
    if key.startswith(MASK_DECODER):
        rest = key[len(MASK_DECODER):]
        match = re.match(r'(query_feat|query_pos)\.weight$', rest)
        if match:
            return f'occ_head.{match.group(1)}.weight'
        if rest.startswith('decoder_layer.'):
            return _apply(_QUERY_LAYER, rest[len('decoder_layer.'):], 'occ_head.')
    return None


def _apply(rules, rest, prefix):
    for pattern, repl in rules:
        if re.match(pattern, rest):
            return prefix + re.sub(pattern, repl, rest, count=1)
    return None


def source_state_dict(checkpoint, path='checkpoint'):
    """SparseOcc's parameters from a loaded checkpoint (its ``state_dict``, DDP's
    ``module.`` prefixes removed).

    Raises:
        ConversionError: the checkpoint holds no SparseOcc voxel decoder.
    """
    state = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise ConversionError(f'{path} is not a SparseOcc checkpoint (no state_dict)')
    state = OrderedDict((re.sub(r'^module\.', '', k), v) for k, v in state.items())
    if not any(k.startswith(VOXEL_DECODER) for k in state):
        raise ConversionError(f'{path} is not a SparseOcc checkpoint (no {VOXEL_DECODER}* '
                              f'keys; first keys: {", ".join(list(state)[:3]) or "none"})')
    return state


def convert_state_dict(source, model):
    """Maps SparseOcc's parameters onto ``model``'s (strict both ways, shapes checked).

    Args:
        source (dict): SparseOcc key -> tensor (:func:`source_state_dict`).
        model (GDOcc): the target model, configured as SparseOcc (no view transform).

    Returns:
        OrderedDict: ``model.state_dict()``'s keys -> converted tensors.

    Raises:
        ConversionError: one line per problem (unused source keys, unfilled target keys,
            shape mismatches), the counts first.
    """
    own = model.state_dict()
    converted, unused, reshaped = OrderedDict(), [], []
    for key, value in source.items():
        name = target_key(key)
        if name is None or name not in own:
            unused.append(f'{key} (-> {name or "no counterpart"})')
            continue
        if tuple(value.shape) != tuple(own[name].shape):
            reshaped.append(f'{key} {tuple(value.shape)} -> {name} {tuple(own[name].shape)}')
            continue
        converted[name] = value.to(own[name].dtype) if value.is_floating_point() else value
    unfilled = [k for k in own if k not in converted]
    problems = [f'{len(unused)} SparseOcc keys without a place in the model', *unused,
                f'{len(unfilled)} model keys that SparseOcc does not fill', *unfilled,
                f'{len(reshaped)} keys of another shape', *reshaped] \
        if unused or unfilled or reshaped else []
    if problems:
        raise ConversionError('the checkpoint does not fit the model:\n  ' +
                              '\n  '.join(problems))
    _fold_conventions(converted, model)
    return converted


def _fold_conventions(state, model):
    """Rewrites SparseOcc's weights for the model's other child order and voxel anchor."""
    from models.decoders.sparse_voxel_decoder import CHILD_OFFSETS

    decoder, head = model.decoder, model.occ_head
    if decoder.child_order != 'sparseocc':
        source = [tuple(o) for o in CHILD_OFFSETS['sparseocc'].tolist()]
        order = [source.index(tuple(o)) for o in CHILD_OFFSETS[decoder.child_order].tolist()]
        channels = decoder.embed_dims
        rows = torch.cat([torch.arange(i * channels, (i + 1) * channels) for i in order])
        for s in range(decoder.num_stages):
            for name in ('weight', 'bias'):
                key = f'decoder.lifts.{s}.0.{name}'
                state[key] = state[key][rows]
    if decoder.voxel_anchor == 'centre':
        # SparseOcc encodes a voxel's corner c / shape; the centre is (c + 0.5) / shape.
        for s, shape in enumerate(decoder.shapes[:-1]):
            weight = state[f'decoder.layers.{s}.pos_encoder.0.weight']
            shift = 0.5 / torch.tensor(shape, dtype=weight.dtype)
            state[f'decoder.layers.{s}.pos_encoder.0.bias'] = \
                state[f'decoder.layers.{s}.pos_encoder.0.bias'] - weight @ shift
    if head.voxel_anchor == 'centre':
        # Offsets are in voxel edges: corner + o = centre + (o - 0.5).
        state['occ_head.layer.sampling_offsets.bias'] = \
            state['occ_head.layer.sampling_offsets.bias'] - 0.5


def build_target(config, cfg_options=None):
    """The model of ``config`` (an mmengine config file), initialised but not loaded."""
    from mmengine.config import Config

    from mmdet3d.registry import MODELS

    import models  # noqa: F401  (registers the modules)

    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return MODELS.build(cfg.model)


def sha256(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def convert_file(src, dst, config=DEFAULT_CONFIG, cfg_options=None):
    """Converts checkpoint ``src`` and writes ``dst`` atomically.

    Returns:
        int: the number of tensors written.

    Raises:
        FileNotFoundError: ``src`` or ``config`` does not exist.
        ConversionError: ``src`` is no SparseOcc checkpoint or does not fit the model.
    """
    for path, what in ((src, 'checkpoint'), (config, 'config')):
        if not os.path.isfile(path):
            raise FileNotFoundError(f'{what} not found: {path}')
    try:
        checkpoint = torch.load(src, map_location='cpu', weights_only=True)
    except Exception as exc:  # pickle, zip and torch errors alike: not a checkpoint
        raise ConversionError(f'{src} cannot be read as a torch checkpoint '
                              f'({type(exc).__name__}: {str(exc).splitlines()[0][:120]})')
    source = source_state_dict(checkpoint, src)
    state = convert_state_dict(source, build_target(config, cfg_options))
    meta = dict(source=os.path.abspath(src), source_sha256=sha256(src),
                converted_by='tools/convert_sparseocc.py', config=os.path.abspath(config))
    if isinstance(checkpoint, dict) and isinstance(checkpoint.get('meta'), dict):
        meta.update({f'source_{k}': checkpoint['meta'][k] for k in ('epoch', 'iter')
                     if k in checkpoint['meta']})
    with atomic_path(dst) as tmp:
        torch.save(dict(meta=meta, state_dict=state), tmp)
    return len(state)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help="SparseOcc checkpoint (.pth)")
    parser.add_argument('dst', help='output mmengine checkpoint (.pth)')
    parser.add_argument('--config', default=DEFAULT_CONFIG,
                        help='config of the target model (default: %(default)s)')
    args = parser.parse_args(argv)
    try:
        count = convert_file(args.src, args.dst, args.config)
    except (FileNotFoundError, ConversionError) as exc:
        sys.exit(f'convert_sparseocc: error: {exc}')
    print(f'wrote {count} tensors to {args.dst} (from {args.src})')


if __name__ == '__main__':
    main()
