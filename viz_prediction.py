#!/usr/bin/env python
"""Draws occupancy predictions next to the camera images and the ground truth.

Examples::

    python viz_prediction.py --config configs/toy_gdocc.py --weights ckpt.pth \\
        --viz-dir work_dirs/viz --num 5
    python viz_prediction.py --data-root data/toy_nuscenes --pred-dir work_dirs/blind \\
        --viz-dir work_dirs/blind_viz --num 5

``--config --weights`` runs the model (mmengine's Runner builds it and its test dataloader;
the checkpoint loads strictly unless ``--non-strict``; headless, CPU or GPU) on the first
``--num`` samples of the config's test split and draws its predictions.
``--data-root --pred-dir`` draws saved predictions instead: for each of the first ``--num``
keyframes of ``--ann-file`` (relative to ``--data-root`` unless absolute) that has a
prediction ``<pred-dir>/<sample_token>.npz`` (key ``pred``, uint8 [200, 200, 16], 17 = free,
the format ``tools/ray_metrics.py`` scores and ``val.py --save-pred`` writes). Either way it
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
* a legend of the 17 class colours.

Image size (``--width W``, W >= 360; all divisions are integer divisions)::

    P = W // 2              3D and BEV panel width, C = W // 3 camera tile width
    HC = C * 9 // 16        camera tile height      H3 = P * 3 // 4   3D panel height
    T = 20                  title strip height      L = 3 * 20 + 8    legend height
    height = T + 2 * HC + T + H3 + T + P + L

e.g. W = 1200 gives 1200 x 1628 px. :func:`layout` returns every panel's box.

Under ``torchrun --nproc_per_node N`` the chosen samples are split over the ranks (rank r
predicts and draws samples r, r + N, ...): each figure is written once, and the figures
are those of one process. There ``--num`` must be spelled ``--num-samples``: torchrun takes
``--num`` for an abbreviation of its own ``--numa-binding``.
"""
import argparse
import os

import numpy as np

from core.atomic_file import atomic_path
from core.errors import DataFileError, missing_file
from core.grid_io import load_npz_grids
from core.infos import load_info_file
from core.occ3d import FREE_LABEL, GRID_MIN, GRID_SHAPE, OCC3D_CLASS_NAMES, VOXEL_SIZE
from evaluation.prediction_folder import index_predictions

# Occ3D / SparseOcc-like class colours (RGB), index = label; 17 (free) is never drawn.
PALETTE = np.array([
    [0, 0, 0],          # others
    [255, 120, 50],     # barrier
    [255, 192, 203],    # bicycle
    [255, 255, 0],      # bus
    [0, 150, 245],      # car
    [0, 255, 255],      # construction_vehicle
    [200, 180, 0],      # motorcycle
    [255, 0, 0],        # pedestrian
    [255, 240, 150],    # traffic_cone
    [135, 60, 0],       # trailer
    [160, 32, 240],     # truck
    [255, 0, 255],      # driveable_surface
    [139, 137, 137],    # other_flat
    [75, 0, 75],        # sidewalk
    [150, 240, 80],     # terrain
    [230, 230, 250],    # manmade
    [0, 175, 0],        # vegetation
], dtype=np.uint8)
BACKGROUND = (255, 255, 255)
MIN_WIDTH = 360
TITLE_H = 20
LEGEND_ROW_H = 20
LEGEND_COLS = 6
LEGEND_H = 3 * LEGEND_ROW_H + 8
CAMERA_GRID = (('CAM_FRONT_LEFT', 'CAM_FRONT', 'CAM_FRONT_RIGHT'),
               ('CAM_BACK_LEFT', 'CAM_BACK', 'CAM_BACK_RIGHT'))

# The virtual camera of the 3D views (ego frame, metres): behind and above the ego car.
VIEW_EYE = (-32.0, 0.0, 24.0)
VIEW_TARGET = (12.0, 0.0, -2.0)
VIEW_HFOV_DEG = 75.0
LIGHT = np.array([-0.4, 0.5, 1.0]) / np.linalg.norm([-0.4, 0.5, 1.0])
EGO_SIZE = (4.1, 1.8)  # length (x), width (y) in metres, for the BEV marker


def layout(width):
    """Boxes ``(left, top, right, bottom)`` of the figure for ``--width width``.

    Returns:
        dict: ``size`` (W, H) and boxes ``cams`` (dict camera -> box), ``pred_3d``,
        ``gt_3d``, ``pred_bev``, ``gt_bev``, ``legend`` and the title strips
        ``title_cams``, ``title_3d``, ``title_bev``.
    """
    if width < MIN_WIDTH:
        raise ValueError(f'width must be at least {MIN_WIDTH} px, got {width}')
    p, c = width // 2, width // 3
    hc, h3 = c * 9 // 16, p * 3 // 4
    boxes = {'title_cams': (0, 0, width, TITLE_H), 'cams': {}}
    y = TITLE_H
    for row in CAMERA_GRID:
        for col, cam in enumerate(row):
            boxes['cams'][cam] = (col * c, y, col * c + c, y + hc)
        y += hc
    boxes['title_3d'] = (0, y, width, y + TITLE_H)
    y += TITLE_H
    boxes['pred_3d'], boxes['gt_3d'] = (0, y, p, y + h3), (p, y, 2 * p, y + h3)
    y += h3
    boxes['title_bev'] = (0, y, width, y + TITLE_H)
    y += TITLE_H
    boxes['pred_bev'], boxes['gt_bev'] = (0, y, p, y + p), (p, y, 2 * p, y + p)
    y += p
    boxes['legend'] = (0, y, width, y + LEGEND_H)
    boxes['size'] = (width, y + LEGEND_H)
    return boxes


class VoxelRenderer:
    """Renders label grids from the fixed virtual camera (rays computed once per size)."""

    def __init__(self, width, height):
        self.width, self.height = width, height
        eye, target = np.array(VIEW_EYE), np.array(VIEW_TARGET)
        forward = (target - eye) / np.linalg.norm(target - eye)
        right = np.cross(forward, [0.0, 0.0, 1.0])
        right /= np.linalg.norm(right)
        down = np.cross(forward, right)  # image v axis (forward x right = -up)
        focal = (width / 2) / np.tan(np.radians(VIEW_HFOV_DEG) / 2)
        u = (np.arange(width) + 0.5 - width / 2) / focal
        v = (np.arange(height) + 0.5 - height / 2) / focal
        vv, uu = np.meshgrid(v, u, indexing='ij')
        dirs = forward + uu[..., None] * right + vv[..., None] * down
        dirs = dirs.reshape(-1, 3)
        dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
        # Slab test against the grid box: rays start where they enter it.
        lo = np.array(GRID_MIN)
        hi = lo + VOXEL_SIZE * np.array(GRID_SHAPE)
        with np.errstate(divide='ignore', invalid='ignore'):
            t1, t2 = (lo - eye) / dirs, (hi - eye) / dirs
        t_near = np.nanmax(np.minimum(t1, t2), axis=1).clip(min=0.0)
        t_far = np.nanmin(np.maximum(t1, t2), axis=1)
        self.enters = t_far > t_near + 1e-6
        eps = 1e-4 * VOXEL_SIZE
        origins = eye + (t_near[:, None] + eps) * dirs
        self.origins = np.clip(origins, lo + eps, hi - eps)[self.enters]
        self.dirs = dirs[self.enters]
        self.t_entry = t_near[self.enters] + eps

    def render(self, labels):
        """uint8 [H, W, 3] image of ``labels`` (uint8 [200, 200, 16], 17 = free)."""
        import torch

        from models.ops.ray_cast import ray_cast

        image = np.empty((self.width * self.height, 3), dtype=np.float64)
        image[:] = BACKGROUND
        labels = _clean(labels)
        occupied = labels != FREE_LABEL
        if self.dirs.shape[0] and occupied.any():
            _, voxel = ray_cast(torch.from_numpy(occupied), torch.from_numpy(self.origins),
                                torch.from_numpy(self.dirs), GRID_MIN, VOXEL_SIZE)
            voxel = voxel.numpy()
            label = labels[voxel[:, 0], voxel[:, 1], voxel[:, 2]]
            hit = label != FREE_LABEL
            idx, d, o = voxel[hit], self.dirs[hit], self.origins[hit]
            # Entry face of the hit voxel: the axis whose slab is entered last.
            lo = np.array(GRID_MIN) + VOXEL_SIZE * idx
            near = np.where(d > 0, lo, lo + VOXEL_SIZE)
            with np.errstate(divide='ignore', invalid='ignore'):
                t_axes = np.where(d != 0, (near - o) / d, -np.inf)
            axis = t_axes.argmax(axis=1)
            normal = np.zeros_like(d)
            rows = np.arange(len(d))
            normal[rows, axis] = -np.sign(d[rows, axis])
            shade = 0.55 + 0.45 * np.clip(normal @ LIGHT, 0.0, 1.0)
            dist = self.t_entry[hit] + np.maximum(t_axes[rows, axis], 0.0)
            fade = 1.0 - 0.35 * np.clip(dist / 110.0, 0.0, 1.0)
            colour = PALETTE[label[hit]].astype(np.float64) * (shade * fade)[:, None]
            full = np.flatnonzero(self.enters)[hit]
            image[full] = colour
        return np.round(image).clip(0, 255).astype(np.uint8).reshape(
            self.height, self.width, 3)


def _clean(labels):
    """Labels as uint8 with anything above 17 (e.g. an ignore value) drawn as free."""
    labels = np.asarray(labels)
    return np.where(labels > FREE_LABEL, FREE_LABEL, labels).astype(np.uint8)


def bev_image(labels):
    """uint8 [200, 200, 3]: top-down colours (highest non-free voxel), x up, y left."""
    labels = _clean(labels)
    occupied = labels != FREE_LABEL
    any_occ = occupied.any(axis=2)
    top = GRID_SHAPE[2] - 1 - np.argmax(occupied[:, :, ::-1], axis=2)
    label = np.take_along_axis(labels, top[..., None], axis=2)[..., 0]
    # Slightly brighter for higher voxels, so obstacles stand out from the ground.
    shade = 0.75 + 0.25 * top / (GRID_SHAPE[2] - 1)
    rgb = PALETTE[np.where(any_occ, label, 0)].astype(np.float64) * shade[..., None]
    rgb[~any_occ] = BACKGROUND
    rgb = np.round(rgb).clip(0, 255).astype(np.uint8)
    return rgb[::-1, ::-1]  # row = -x (forward up), column = -y (left on the left)


def _font(size=13):
    from PIL import ImageFont
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def _title(draw, box, text, font):
    draw.rectangle(box, fill=(40, 40, 40))
    draw.text((box[0] + 6, box[1] + 3), text, fill=(255, 255, 255), font=font)


def _paste_bev(canvas, draw, box, labels):
    from PIL import Image
    size = box[2] - box[0]
    bev = Image.fromarray(bev_image(labels)).resize((size, size), Image.NEAREST)
    canvas.paste(bev, box[:2])
    # Ego car (origin of the ego frame) as an outlined box, front up.
    scale = size / (GRID_SHAPE[0] * VOXEL_SIZE)
    cx = box[0] + (0.0 - GRID_MIN[1]) * scale
    cy = box[1] + (0.0 - GRID_MIN[0]) * scale
    half_l, half_w = EGO_SIZE[0] / 2 * scale, EGO_SIZE[1] / 2 * scale
    draw.rectangle((cx - half_w, cy - half_l, cx + half_w, cy + half_l), outline=(0, 0, 0),
                   width=2, fill=(255, 255, 255))
    draw.polygon([(cx - half_w, cy - half_l + 1), (cx + half_w, cy - half_l + 1),
                  (cx, cy - half_l - max(2, half_w))], fill=(0, 0, 0))


def _camera_path(data_root, info, cam):
    try:
        path = info['cams'][cam]['data_path']
    except (KeyError, TypeError):
        raise DataFileError(info.get('token', '?'), f'info has no {cam} image') from None
    return path if os.path.isabs(path) else os.path.join(data_root, path)


def draw_sample(data_root, info, pred, gt, width, renderer=None):
    """The figure of one keyframe as a PIL image of size ``layout(width)['size']``."""
    from PIL import Image, ImageDraw

    boxes = layout(width)
    canvas = Image.new('RGB', boxes['size'], BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    font, small = _font(13), _font(11)
    _title(draw, boxes['title_cams'], f'cameras - {info.get("token", "")}', font)
    for cam, box in boxes['cams'].items():
        path = _camera_path(data_root, info, cam)
        try:
            with Image.open(path) as image:
                tile = image.convert('RGB').resize((box[2] - box[0], box[3] - box[1]),
                                                   Image.BILINEAR)
        except FileNotFoundError:
            raise missing_file(path, 'camera image') from None
        except OSError as exc:
            raise DataFileError(path, f'camera image: unreadable ({exc})') from exc
        canvas.paste(tile, box[:2])
        label = cam[len('CAM_'):]
        tw = draw.textlength(label, font=small)
        draw.rectangle((box[0] + 2, box[1] + 2, box[0] + 8 + tw, box[1] + 17), fill=(0, 0, 0))
        draw.text((box[0] + 5, box[1] + 3), label, fill=(255, 255, 255), font=small)
    half = boxes['pred_3d'][2]
    _title(draw, boxes['title_3d'], '3D: prediction', font)
    draw.text((half + 6, boxes['title_3d'][1] + 3), '3D: ground truth', fill=(255, 255, 255),
              font=font)
    p3 = boxes['pred_3d']
    if renderer is None or (renderer.width, renderer.height) != (p3[2] - p3[0], p3[3] - p3[1]):
        renderer = VoxelRenderer(p3[2] - p3[0], p3[3] - p3[1])
    canvas.paste(Image.fromarray(renderer.render(pred)), boxes['pred_3d'][:2])
    canvas.paste(Image.fromarray(renderer.render(gt)), boxes['gt_3d'][:2])
    _title(draw, boxes['title_bev'], 'BEV: prediction', font)
    draw.text((half + 6, boxes['title_bev'][1] + 3), 'BEV: ground truth',
              fill=(255, 255, 255), font=font)
    _paste_bev(canvas, draw, boxes['pred_bev'], pred)
    _paste_bev(canvas, draw, boxes['gt_bev'], gt)
    for key in ('pred_3d', 'gt_3d', 'pred_bev', 'gt_bev'):  # the same frame on each panel
        left, top, right, bottom = boxes[key]
        draw.rectangle((left, top, right - 1, bottom - 1), outline=(40, 40, 40))
    lg = boxes['legend']
    col_w = width // LEGEND_COLS
    for label, name in enumerate(OCC3D_CLASS_NAMES[:FREE_LABEL]):
        x = lg[0] + 4 + (label % LEGEND_COLS) * col_w
        y = lg[1] + 4 + (label // LEGEND_COLS) * LEGEND_ROW_H
        draw.rectangle((x, y + 2, x + 14, y + 16), fill=tuple(int(c) for c in PALETTE[label]),
                       outline=(60, 60, 60))
        draw.text((x + 19, y + 3), name, fill=(0, 0, 0), font=small)
    return canvas


def save_png_atomic(image, path):
    """Writes ``image`` to ``path`` through a temporary file + rename."""
    with atomic_path(path, suffix='.png') as tmp:
        image.save(tmp, format='PNG')


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
    saved.add_argument('--pred-dir', help='folder of <sample_token>.npz')
    saved.add_argument('--ann-file', default='nuscenes_infos_val_sweep.pkl',
                       help='info pickle (relative to --data-root unless absolute)')
    parser.add_argument('--viz-dir', required=True, help='output folder of <sample_token>.png')
    parser.add_argument('--num', '--num-samples', dest='num', type=int, default=10,
                        help='draw the first NUM keyframes that have a prediction (default 10); '
                             'under torchrun spell it --num-samples (torchrun reads --num as '
                             'its own --numa-binding)')
    parser.add_argument('--width', type=int, default=1200,
                        help=f'PNG width in px, >= {MIN_WIDTH} (default 1200 -> 1200 x 1628); '
                             'height as below')
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


def predict_with_model(args, prog):
    """Runs ``args.config`` with ``args.weights`` on this rank's share (samples r, r + N,
    ... of :func:`rank_and_world_size`) of the first ``args.num`` samples of its test
    dataset.

    Returns:
        tuple: data root, info file (the dataset's) and ``{sample_token: uint8 labels}``.
    """
    import types

    import torch
    from mmengine.runner import Runner
    from torch.utils.data import DataLoader, Subset
    from tqdm import tqdm

    from engine.runtime import prepare_config, require_checkpoint, require_data_roots
    from engine.weights import WeightsMismatchError, load_weights

    cfg = prepare_config(types.SimpleNamespace(config=args.config, work_dir=args.work_dir,
                                               cfg_options=args.cfg_options))
    require_checkpoint(args.weights)
    if 'test_dataloader' not in cfg:
        raise SystemExit(f'{prog} {args.config} defines no test_dataloader')
    require_data_roots(cfg, ('test_dataloader',))
    cfg.load_from = None  # loaded below: no test loop runs, only the model on N samples
    runner = Runner.from_cfg(cfg)
    try:
        load_weights(runner.model, args.weights, strict=not args.non_strict)
    except WeightsMismatchError as exc:
        raise SystemExit(f'{prog} {exc}')
    loader = runner.build_dataloader(cfg.test_dataloader)
    dataset = loader.dataset
    rank, world_size = rank_and_world_size()
    mine = list(range(min(args.num, len(dataset))))[rank::world_size]
    # This rank's samples only, in order (the config's sampler would split all of them).
    subset = DataLoader(Subset(dataset, mine), batch_size=1, shuffle=False,
                        num_workers=0, collate_fn=loader.collate_fn)
    runner.model.eval()
    preds = {}
    with torch.no_grad(), tqdm(total=len(mine), desc='predict', unit='sample',
                               disable=args.no_progress or rank > 0) as bar:
        for batch in subset:
            for sample in runner.model.test_step(batch):
                pred = sample.get('pred_occ_sem')
                if isinstance(pred, torch.Tensor):
                    pred = pred.cpu().numpy()
                preds[sample.get('sample_token')] = np.asarray(pred, dtype=np.uint8)
                bar.update(1)
    return dataset.data_root, dataset.ann_file, preds


def main(argv=None):
    """Command line entry; returns the list of PNG paths written."""
    from tqdm import tqdm

    args = build_parser().parse_args(argv)
    prog = 'viz_prediction: error:'
    if args.num < 1:
        raise SystemExit(f'{prog} --num must be at least 1, got {args.num}')
    if args.width < MIN_WIDTH:
        raise SystemExit(f'{prog} --width must be at least {MIN_WIDTH}, got {args.width}')
    rank, world_size = rank_and_world_size()
    if args.config or args.weights:
        if not (args.config and args.weights):
            raise SystemExit(f'{prog} --config and --weights go together')
        data_root, ann_file, preds = predict_with_model(args, prog)
        source = f'the model of {args.config}'
        load_pred = preds.__getitem__
        shared = False  # each rank predicted its own share
    else:
        if not (args.data_root and args.pred_dir):
            raise SystemExit(f'{prog} give --config and --weights, or --data-root and '
                             f'--pred-dir')
        data_root = args.data_root
        if not os.path.isdir(data_root):
            raise SystemExit(f'{prog} data root not found: {data_root!r}')
        ann_file = args.ann_file if os.path.isabs(args.ann_file) else os.path.join(
            data_root, args.ann_file)
        try:
            preds = index_predictions(args.pred_dir)
        except (FileNotFoundError, DataFileError) as exc:
            raise SystemExit(f'{prog} {exc}')
        source = f'{args.pred_dir!r}'
        shared = True
        load_pred = lambda token: load_npz_grids(  # noqa: E731
            preds[token], ['pred'], 'prediction')['pred']
    try:
        infos = load_info_file(ann_file, data_root)[1]
    except (FileNotFoundError, DataFileError) as exc:
        raise SystemExit(f'{prog} {exc}')
    chosen = [info for info in infos if info['token'] in preds][:args.num]
    if not chosen and (shared or world_size == 1):
        raise SystemExit(f'{prog} no prediction of {source} matches a keyframe of '
                         f'{ann_file!r} (expected <sample_token>.npz)')
    if shared:
        chosen = chosen[rank::world_size]
    os.makedirs(args.viz_dir, exist_ok=True)
    boxes = layout(args.width)
    p3 = boxes['pred_3d']
    renderer = VoxelRenderer(p3[2] - p3[0], p3[3] - p3[1])
    written = []
    for info in tqdm(chosen, desc='viz', unit='sample', disable=args.no_progress or rank > 0):
        try:
            pred = load_pred(info['token'])
            gt = load_npz_grids(os.path.join(data_root, info['occ_path']),
                                ['semantics'], 'ground truth')['semantics']
            image = draw_sample(data_root, info, pred, gt, args.width, renderer)
        except (FileNotFoundError, DataFileError) as exc:
            raise SystemExit(f'{prog} {exc}')
        path = os.path.join(args.viz_dir, info['token'] + '.png')
        save_png_atomic(image, path)
        written.append(path)
    who = f'rank {rank}: ' if world_size > 1 else ''
    print(f'{who}wrote {len(written)} figures ({boxes["size"][0]} x {boxes["size"][1]} px) '
          f'to {args.viz_dir}')
    return written


if __name__ == '__main__':
    main()
