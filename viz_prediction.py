#!/usr/bin/env python
"""Draws occupancy predictions next to the camera images and the ground truth: static
figures (PNG) or interactive pages (HTML, ``--html``).

Examples::

    python viz_prediction.py --config configs/toy_gdocc.py --weights ckpt.pth \\
        --viz-dir work_dirs/viz --num 5
    python viz_prediction.py --data-root data/toy_nuscenes --pred-dir work_dirs/blind \\
        --viz-dir work_dirs/blind_viz --num 5
    python viz_prediction.py --data-root data/toy_nuscenes --pred-dir work_dirs/blind \\
        --viz-dir work_dirs/blind_viz --html --scene scene-0001

``--config --weights`` runs the model (mmengine's Runner builds it and its test dataloader;
the checkpoint loads strictly unless ``--non-strict``; headless, CPU or GPU) on the first
``--num`` samples of the config's test split and draws its predictions beside the ground
truth its test pipeline loads, on the grid and with the class names of the config's dataset
(its metainfo ``occ_grid`` and ``classes``).
``--data-root --pred-dir`` draws saved predictions instead: for each of the first ``--num``
keyframes of ``--ann-file`` (relative to ``--data-root`` unless absolute) that has a
prediction ``<pred-dir>/<sample_token>.npz`` (key ``pred``, uint8 [200, 200, 16], 17 = free,
the format ``tools/ray_metrics.py`` scores and ``val.py --save-pred`` writes; Occ3D's grid
and classes, ground truth from the info's ``occ_path``). Either way it
writes ``<viz-dir>/<sample_token>.png`` (atomically: temporary file + rename) holding, top
to bottom:

* the six camera images, FRONT_LEFT / FRONT / FRONT_RIGHT over BACK_LEFT / BACK / BACK_RIGHT;
* the prediction (left) and the ground truth (right, the info's ``occ_path``) rendered in
  3D from the same virtual pinhole camera behind and above the ego car, looking forward and
  down: one ray per pixel cast through the label grid with ``models.ops.ray_cast`` (rays
  start where they enter the grid), coloured by class, shaded by the voxel face hit,
  darkened with distance; rays that hit nothing are white;
* the bird's-eye views (per (x, y) the class of the highest non-free voxel, x forward = up,
  y left = left; white where the column is free) of prediction and ground truth, the ego car
  drawn as a black outlined box at the centre;
* a legend of the class colours (Occ3D's 17).

Image size (``--width W``, W >= 360; all divisions are integer divisions)::

    P = W // 2              3D and BEV panel width, C = W // 3 camera tile width
    HC = C * 9 // 16        camera tile height      H3 = P * 3 // 4   3D panel height
    T = 20                  title strip height      L = 3 * 20 + 8    legend height
    height = T + 2 * HC + T + H3 + T + P + L

e.g. W = 1200 gives 1200 x 1628 px. :func:`layout` returns every panel's box.

``--html`` writes ``<viz-dir>/<sample_token>.html`` instead: one self-contained page per
keyframe (plotly.js embedded; opens offline by double-click) with the prediction beside the
ground truth as voxels (linked cameras), a legend that switches classes on and off, an
error view, the six camera images (``--image-width`` px wide), the ego vehicle and the
keyframe's RayIoU and mIoU (when the info has an ``occ_path``). ``--html --scene NAME ...``
writes ``<viz-dir>/<NAME>.html`` per scene instead: every keyframe of the scene that has a
prediction, behind a frame slider. ``--sample TOKEN ...`` draws those keyframes instead of
the first ``--num``. docs/visualization.md shows a page and its size and speed.

Under ``torchrun --nproc_per_node N`` the chosen samples (or scenes) are split over the
ranks (rank r predicts and draws samples r, r + N, ...): each figure or page is written
once, and it is the one a single process writes. There ``--num`` must be spelled
``--num-samples``: torchrun takes ``--num`` for an abbreviation of its own
``--numa-binding``.
"""
import argparse
import difflib
import os

import numpy as np

from core.errors import DataFileError
from core.grid_io import load_npz_grids
from core.infos import load_info_file
from evaluation.prediction_folder import index_predictions
from visualization import page
from visualization.figure import MIN_WIDTH, VoxelRenderer, draw_sample, layout, save_png_atomic
from visualization.style import OCC3D_STYLE, GridStyle

PROG = 'viz_prediction: error:'


def build_parser():
    summary, _, rest = __doc__.partition('\n\n')
    size_doc = rest[rest.index('Image size'):rest.index(':func:`layout`')].strip()
    parser = argparse.ArgumentParser(
        description=summary, epilog=size_doc,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    model = parser.add_argument_group('run a model (the first --num test samples of CONFIG)')
    model.add_argument('--config', help='config file')
    model.add_argument('--weights', help='checkpoint file')
    model.add_argument('--non-strict', action='store_true',
                       help='load a checkpoint whose keys do not all fit the model (warning)')
    model.add_argument('--work-dir', help='where the runner logs go '
                       '(default: work_dirs/<config name>)')
    model.add_argument('--cfg-options', nargs='+', action=_dict_action(), metavar='KEY=VALUE',
                       help='override config entries')
    saved = parser.add_argument_group('or draw saved predictions')
    saved.add_argument('--data-root', help='nuScenes / toy data root')
    saved.add_argument('--pred-dir', help='folder of <sample_token>.npz (key pred, uint8 '
                                          '[200, 200, 16], as val.py --save-pred writes)')
    saved.add_argument('--ann-file', default='nuscenes_infos_val_sweep.pkl',
                       help='info pickle (relative to --data-root unless absolute)')
    parser.add_argument('--viz-dir', required=True,
                        help='output folder of <sample_token>.png (or .html, <scene>.html)')
    parser.add_argument('--num', '--num-samples', dest='num', type=int, default=10,
                        help='draw the first NUM keyframes that have a prediction (default 10); '
                             'under torchrun spell it --num-samples (torchrun reads --num as '
                             'its own --numa-binding)')
    parser.add_argument('--sample', nargs='+', metavar='TOKEN',
                        help='draw these keyframes instead of the first NUM')
    parser.add_argument('--width', type=int, default=1200,
                        help=f'PNG width in px, >= {MIN_WIDTH} (default 1200 -> 1200 x 1628); '
                             'height as below')
    pages = parser.add_argument_group('interactive pages')
    pages.add_argument('--html', action='store_true',
                       help='write one self-contained HTML page per keyframe instead of PNGs')
    pages.add_argument('--scene', nargs='+', metavar='NAME',
                       help='with --html: one page per scene, a frame slider over its keyframes')
    pages.add_argument('--image-width', type=int, default=page.IMAGE_WIDTH,
                       help=f'camera image width in the page, px (default {page.IMAGE_WIDTH})')
    parser.add_argument('--no-progress', action='store_true', help='hide the progress bar')
    return parser


def _dict_action():
    from mmengine.config import DictAction

    return DictAction


def rank_and_world_size():
    """``(rank, world_size)`` of this process: the joined process group's, else torchrun's
    ``RANK`` / ``WORLD_SIZE`` (``(0, 1)`` for plain python)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return int(os.environ.get('RANK', 0)), int(os.environ.get('WORLD_SIZE', 1))


def build_model_runner(args):
    """mmengine's Runner for ``args.config`` with ``args.weights`` loaded (strictly unless
    ``--non-strict``) and its test dataloader."""
    import types

    from mmengine.runner import Runner

    from engine.runtime import prepare_config, require_checkpoint, require_data_roots
    from engine.weights import WeightsMismatchError, load_weights

    cfg = prepare_config(types.SimpleNamespace(config=args.config, work_dir=args.work_dir,
                                               cfg_options=args.cfg_options))
    require_checkpoint(args.weights)
    if 'test_dataloader' not in cfg:
        raise SystemExit(f'{PROG} {args.config} defines no test_dataloader')
    require_data_roots(cfg, ('test_dataloader',))
    cfg.load_from = None  # loaded below: no test loop runs, only the model on N samples
    runner = Runner.from_cfg(cfg)
    try:
        load_weights(runner.model, args.weights, strict=not args.non_strict)
    except WeightsMismatchError as exc:
        raise SystemExit(f'{PROG} {exc}')
    return runner, runner.build_dataloader(cfg.test_dataloader)


def style_of(dataset):
    """The :class:`GridStyle` of a dataset's metainfo (``classes``, ``occ_grid``)."""
    meta = dataset.metainfo
    return GridStyle(meta.get('classes'), meta.get('occ_grid'))


def predict_with_model(runner, loader, indices, progress):
    """The model's labels on samples ``indices`` of the test dataset, in order, with the
    ground truth the test pipeline loaded.

    Returns:
        tuple(dict, dict): sample token -> uint8 [X, Y, Z] predicted labels, and sample
        token -> ``(semantics, mask_camera)`` uint8 [X, Y, Z] ground truth (absent where
        the pipeline loads none).
    """
    import torch
    from torch.utils.data import DataLoader, Subset
    from tqdm import tqdm

    # These samples only, in order (the config's sampler would split all of them).
    subset = DataLoader(Subset(loader.dataset, indices), batch_size=1, shuffle=False,
                        num_workers=0, collate_fn=loader.collate_fn)
    runner.model.eval()
    numpy = lambda value: np.asarray(  # noqa: E731
        value.cpu().numpy() if isinstance(value, torch.Tensor) else value)
    preds, gts = {}, {}
    with torch.no_grad(), tqdm(total=len(indices), desc='predict', unit='sample',
                               disable=not progress) as bar:
        for batch in subset:
            for sample in runner.model.test_step(batch):
                token = sample.get('sample_token')
                preds[token] = numpy(sample.get('pred_occ_sem'))
                if 'gt_occ_sem' in sample and 'mask_camera' in sample:
                    gts[token] = (numpy(sample.gt_occ_sem).astype(np.uint8),
                                  numpy(sample.mask_camera).astype(np.uint8))
                bar.update(1)
    return preds, gts


def checked_labels(pred, where, style=OCC3D_STYLE):
    """A prediction as uint8 [X, Y, Z] labels on ``style``'s grid, or one line naming
    ``where``.

    Raises:
        DataFileError: another shape, a non-integer dtype, or a label outside
            [0, free label].
    """
    pred = np.asarray(pred)
    shape, free = style.occ_grid.grid_shape, style.free_label
    if pred.shape != shape:
        raise DataFileError(where, f'prediction: shape {pred.shape}, expected {shape}')
    if not np.issubdtype(pred.dtype, np.integer):
        raise DataFileError(where, f'prediction: dtype {pred.dtype}, expected integer labels')
    if pred.min() < 0 or pred.max() > free:
        raise DataFileError(where, f'prediction: labels must lie in [0, {free}], found '
                                   f'[{pred.min()}, {pred.max()}]')
    return pred.astype(np.uint8)


def sample_metrics(pred, gt, mask_camera, origins, style=OCC3D_STYLE):
    """RayIoU (RayIoU@1/2/4, fractions) and camera-mask mIoU (percent) of one keyframe, by
    the evaluation's definitions (``evaluation.prediction_folder.evaluate`` on one sample).

    Args:
        pred, gt: uint8 [X, Y, Z] labels on ``style``'s grid; ``mask_camera`` 0/1, same
            shape.
        origins: float [T, 3] RayIoU ray origins in the keyframe's ego frame, metres.
        style (GridStyle): the grid and class names.
    """
    from evaluation.old_metrics import Metric_mIoU
    from evaluation.ray_metrics import cast_pred_and_gt, rayiou_counts, rayiou_from_counts

    names = style.class_names
    rays = cast_pred_and_gt(pred, gt, origins, occ_grid=style.occ_grid,
                            free_label=style.free_label)
    ray = rayiou_from_counts(rayiou_counts(*rays, num_classes=len(names)), names,
                             verbose=False)
    miou = Metric_mIoU(len(names), use_image_mask=True, class_names=names)
    miou.add_batch(pred, gt, None, mask_camera)
    return dict({key: ray[key] for key in page.METRIC_KEYS if key != 'mIoU'},
                mIoU=miou.count_miou(verbose=False))


def scenes_of(infos):
    """``{scene_name: [info, ...]}``, keyframes in file (time) order."""
    scenes = {}
    for info in infos:
        scenes.setdefault(info.get('scene_name', ''), []).append(info)
    return scenes


def choose(args, infos, has_prediction, source, ann_file):
    """What to draw: a list of units, each a list of infos (one keyframe, or a scene's
    keyframes with a prediction, time order), before the split over the ranks."""
    if args.scene:
        scenes = scenes_of(infos)
        units = []
        for name in args.scene:
            if name not in scenes:
                close = difflib.get_close_matches(name, list(scenes), n=1)
                hint = (f'did you mean {close[0]!r}?' if close else
                        f'it has {", ".join(sorted(scenes)[:5])}'
                        + (' ...' if len(scenes) > 5 else ''))
                raise SystemExit(f'{PROG} unknown scene {name!r}: not in {ann_file!r} ({hint})')
            frames = [info for info in scenes[name] if has_prediction(info['token'])]
            if not frames:
                raise SystemExit(f'{PROG} no prediction of {source} for a keyframe of scene '
                                 f'{name!r} (expected <sample_token>.npz)')
            units.append(frames)
        return units
    if args.sample:
        by_token = {info['token']: info for info in infos}
        for token in args.sample:
            if token not in by_token:
                raise SystemExit(f'{PROG} unknown sample token {token!r}: not a keyframe of '
                                 f'{ann_file!r}')
            if not has_prediction(token):
                raise SystemExit(f'{PROG} no prediction of {source} for sample {token!r}')
        return [[by_token[token]] for token in args.sample]
    chosen = [[info] for info in infos if has_prediction(info['token'])][:args.num]
    if not chosen:
        raise SystemExit(f'{PROG} no prediction of {source} matches a keyframe of '
                         f'{ann_file!r} (expected <sample_token>.npz)')
    return chosen


def load_ground_truth(data_root, info):
    """``(semantics, mask_camera)`` uint8 grids of the keyframe, or None when its info
    names no ``occ_path`` (e.g. a test split)."""
    if not info.get('occ_path'):
        return None
    gt = load_npz_grids(os.path.join(data_root, info['occ_path']),
                        ['semantics', 'mask_camera'], 'ground truth')
    return gt['semantics'], gt['mask_camera']


def main(argv=None):
    """Command line entry; returns the list of PNG / HTML paths written."""
    args = build_parser().parse_args(argv)
    if args.num < 1:
        raise SystemExit(f'{PROG} --num must be at least 1, got {args.num}')
    if args.width < MIN_WIDTH:
        raise SystemExit(f'{PROG} --width must be at least {MIN_WIDTH}, got {args.width}')
    if args.image_width < 1:
        raise SystemExit(f'{PROG} --image-width must be at least 1, got {args.image_width}')
    if args.scene and not args.html:
        raise SystemExit(f'{PROG} --scene writes scene pages: add --html')
    if args.scene and args.sample:
        raise SystemExit(f'{PROG} give --scene or --sample, not both')
    rank, world_size = rank_and_world_size()
    progress = not args.no_progress and rank == 0
    if args.config or args.weights:
        if not (args.config and args.weights):
            raise SystemExit(f'{PROG} --config and --weights go together')
        runner, loader = build_model_runner(args)
        data_root, ann_file = loader.dataset.data_root, loader.dataset.ann_file
        style = style_of(loader.dataset)
        source, title_source = f'the model of {args.config}', os.path.basename(args.config)
        saved = None
    else:
        if not (args.data_root and args.pred_dir):
            raise SystemExit(f'{PROG} give --config and --weights, or --data-root and '
                             f'--pred-dir')
        data_root = args.data_root
        if not os.path.isdir(data_root):
            raise SystemExit(f'{PROG} data root not found: {data_root!r}')
        ann_file = args.ann_file if os.path.isabs(args.ann_file) else os.path.join(
            data_root, args.ann_file)
        try:
            saved = index_predictions(args.pred_dir)
        except (FileNotFoundError, DataFileError) as exc:
            raise SystemExit(f'{PROG} {exc}')
        source = f'{args.pred_dir!r}'
        style = OCC3D_STYLE
        title_source = os.path.basename(os.path.normpath(args.pred_dir))
    try:
        infos = load_info_file(ann_file, data_root)[1]
    except (FileNotFoundError, DataFileError) as exc:
        raise SystemExit(f'{PROG} {exc}')
    has_prediction = (lambda token: True) if saved is None else saved.__contains__
    units = choose(args, infos, has_prediction, source, ann_file)[rank::world_size]
    if saved is None:  # the model predicts this rank's share only
        position = {info['token']: n for n, info in enumerate(infos)}
        preds, gts = predict_with_model(runner, loader, [
            position[info['token']] for unit in units for info in unit], progress)
        load_pred = lambda token: checked_labels(preds[token], token, style)  # noqa: E731
        load_gt = lambda info: gts.get(info['token'])  # noqa: E731
    else:
        load_pred = lambda token: checked_labels(load_npz_grids(  # noqa: E731
            saved[token], ['pred'], 'prediction')['pred'], saved[token])
        load_gt = lambda info: load_ground_truth(data_root, info)  # noqa: E731
    os.makedirs(args.viz_dir, exist_ok=True)
    if args.html:
        written = _write_pages(args, units, infos, data_root, load_pred, load_gt, style,
                               title_source, progress)
        what = f'{len(written)} pages'
    else:
        written = _write_figures(args, units, data_root, load_pred, load_gt, style, progress)
        boxes = layout(args.width)
        what = f'{len(written)} figures ({boxes["size"][0]} x {boxes["size"][1]} px)'
    who = f'rank {rank}: ' if world_size > 1 else ''
    print(f'{who}wrote {what} to {args.viz_dir}')
    return written


def _write_figures(args, units, data_root, load_pred, load_gt, style, progress):
    from tqdm import tqdm

    p3 = layout(args.width)['pred_3d']
    renderer = VoxelRenderer(p3[2] - p3[0], p3[3] - p3[1], style)
    written = []
    for (info,) in tqdm(units, desc='viz', unit='sample', disable=not progress):
        try:
            pred = load_pred(info['token'])
            gt = load_gt(info)
            if gt is None:
                raise DataFileError(info['token'], 'no ground truth to draw beside the '
                                                   'prediction (the info names no occ_path)')
            image = draw_sample(data_root, info, pred, gt[0], args.width, renderer, style)
        except (FileNotFoundError, DataFileError) as exc:
            raise SystemExit(f'{PROG} {exc}')
        path = os.path.join(args.viz_dir, info['token'] + '.png')
        save_png_atomic(image, path)
        written.append(path)
    return written


def _write_pages(args, units, infos, data_root, load_pred, load_gt, style, title_source,
                 progress):
    from tqdm import tqdm

    from core.ego_pose import ray_origins_of_infos

    scenes = scenes_of(infos)
    origins = ray_origins_of_infos(infos)
    written = []
    for unit in tqdm(units, desc='viz', unit='page', disable=not progress):
        frames = []
        try:
            for info in unit:
                pred = load_pred(info['token'])
                gt = load_gt(info)
                metrics = None if gt is None else sample_metrics(
                    pred, *gt, origins[info['token']], style)
                frames.append(page.frame_data(
                    data_root, info, pred, None if gt is None else gt[0], metrics,
                    scenes[info.get('scene_name', '')], args.image_width, style))
        except (FileNotFoundError, DataFileError) as exc:
            raise SystemExit(f'{PROG} {exc}')
        name = unit[0].get('scene_name', '') if args.scene else unit[0]['token']
        title = f'GD-OCC · {title_source} · ' + (f'scene {name}' if args.scene else
                                                 f'sample {name}')
        path = os.path.join(args.viz_dir, name + '.html')
        page.write_page(path, page.page_html(title, frames, style))
        written.append(path)
    return written


if __name__ == '__main__':
    main()
