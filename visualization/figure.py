"""The static figure of one keyframe (PNG): its six camera images, the prediction beside
the ground truth in 3D (ray cast from a fixed virtual camera behind and above the ego car)
and in bird's-eye view, and the class legend. ``viz_prediction.py``'s docstring describes
the figure and its size formula; :func:`layout` returns every panel's box.
"""
import numpy as np

from core.atomic_file import atomic_path

from .camera_images import load_camera_image
from .style import BACKGROUND, CAMERA_GRID, EGO_SIZE, OCC3D_STYLE

MIN_WIDTH = 360
TITLE_H = 20
LEGEND_ROW_H = 20
LEGEND_COLS = 6
LEGEND_H = 3 * LEGEND_ROW_H + 8

# The virtual camera of the 3D views (ego frame, metres): behind and above the ego car.
VIEW_EYE = (-32.0, 0.0, 24.0)
VIEW_TARGET = (12.0, 0.0, -2.0)
VIEW_HFOV_DEG = 75.0
LIGHT = np.array([-0.4, 0.5, 1.0]) / np.linalg.norm([-0.4, 0.5, 1.0])


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
    """Renders label grids from the fixed virtual camera (rays computed once per size).

    Args:
        width, height (int): image size, px.
        style (GridStyle): the grid and colours of the labels drawn.
    """

    def __init__(self, width, height, style=OCC3D_STYLE):
        self.width, self.height, self.style = width, height, style
        grid_min, voxel_size = np.array(style.occ_grid.grid_min), style.occ_grid.voxel_size
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
        lo = grid_min
        hi = np.array(style.occ_grid.grid_max)
        with np.errstate(divide='ignore', invalid='ignore'):
            t1, t2 = (lo - eye) / dirs, (hi - eye) / dirs
        t_near = np.nanmax(np.minimum(t1, t2), axis=1).clip(min=0.0)
        t_far = np.nanmin(np.maximum(t1, t2), axis=1)
        self.enters = t_far > t_near + 1e-6
        eps = 1e-4 * voxel_size
        origins = eye + (t_near[:, None] + eps) * dirs
        self.origins = np.clip(origins, lo + eps, hi - eps)[self.enters]
        self.dirs = dirs[self.enters]
        self.t_entry = t_near[self.enters] + eps

    def render(self, labels):
        """uint8 [H, W, 3] image of ``labels`` (uint8 [X, Y, Z] on the style's grid)."""
        import torch

        from models.ops.ray_cast import ray_cast

        grid, free = self.style.occ_grid, self.style.free_label
        image = np.empty((self.width * self.height, 3), dtype=np.float64)
        image[:] = BACKGROUND
        labels = self.style.drawn_labels(labels)
        occupied = labels != free
        if self.dirs.shape[0] and occupied.any():
            _, voxel = ray_cast(torch.from_numpy(occupied), torch.from_numpy(self.origins),
                                torch.from_numpy(self.dirs), grid.grid_min, grid.voxel_size)
            voxel = voxel.numpy()
            label = labels[voxel[:, 0], voxel[:, 1], voxel[:, 2]]
            hit = label != free
            idx, d, o = voxel[hit], self.dirs[hit], self.origins[hit]
            # Entry face of the hit voxel: the axis whose slab is entered last.
            lo = np.array(grid.grid_min) + grid.voxel_size * idx
            near = np.where(d > 0, lo, lo + grid.voxel_size)
            with np.errstate(divide='ignore', invalid='ignore'):
                t_axes = np.where(d != 0, (near - o) / d, -np.inf)
            axis = t_axes.argmax(axis=1)
            normal = np.zeros_like(d)
            rows = np.arange(len(d))
            normal[rows, axis] = -np.sign(d[rows, axis])
            shade = 0.55 + 0.45 * np.clip(normal @ LIGHT, 0.0, 1.0)
            dist = self.t_entry[hit] + np.maximum(t_axes[rows, axis], 0.0)
            fade = 1.0 - 0.35 * np.clip(dist / 110.0, 0.0, 1.0)
            colour = self.style.palette[label[hit]].astype(np.float64) * (shade * fade)[:, None]
            full = np.flatnonzero(self.enters)[hit]
            image[full] = colour
        return np.round(image).clip(0, 255).astype(np.uint8).reshape(
            self.height, self.width, 3)


def bev_image(labels, style=OCC3D_STYLE):
    """uint8 [X, Y, 3]: top-down colours (highest non-free voxel), x up, y left."""
    labels = style.drawn_labels(labels)
    occupied = labels != style.free_label
    any_occ = occupied.any(axis=2)
    levels = labels.shape[2]
    top = levels - 1 - np.argmax(occupied[:, :, ::-1], axis=2)
    label = np.take_along_axis(labels, top[..., None], axis=2)[..., 0]
    # Slightly brighter for higher voxels, so obstacles stand out from the ground.
    shade = 0.75 + 0.25 * top / max(levels - 1, 1)
    rgb = style.palette[np.where(any_occ, label, 0)].astype(np.float64) * shade[..., None]
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


def _paste_bev(canvas, draw, box, labels, style):
    from PIL import Image
    size = box[2] - box[0]
    bev = Image.fromarray(bev_image(labels, style)).resize((size, size), Image.NEAREST)
    canvas.paste(bev, box[:2])
    # Ego car (origin of the ego frame) as an outlined box, front up.
    grid = style.occ_grid
    scale = size / (grid.grid_shape[0] * grid.voxel_size)
    cx = box[0] + (grid.grid_max[1] - 0.0) * scale
    cy = box[1] + (grid.grid_max[0] - 0.0) * scale
    half_l, half_w = EGO_SIZE[0] / 2 * scale, EGO_SIZE[1] / 2 * scale
    draw.rectangle((cx - half_w, cy - half_l, cx + half_w, cy + half_l), outline=(0, 0, 0),
                   width=2, fill=(255, 255, 255))
    draw.polygon([(cx - half_w, cy - half_l + 1), (cx + half_w, cy - half_l + 1),
                  (cx, cy - half_l - max(2, half_w))], fill=(0, 0, 0))


def draw_sample(data_root, info, pred, gt, width, renderer=None, style=OCC3D_STYLE):
    """The figure of one keyframe as a PIL image of size ``layout(width)['size']``.

    Args:
        data_root (str): root the info's camera paths are relative to.
        info (dict): the keyframe's info.
        pred, gt: integer [X, Y, Z] label grids on ``style``'s grid.
        width (int): figure width, px.
        renderer (VoxelRenderer, optional): reused when its size and style fit.
        style (GridStyle): the grid, labels and colours (at most 18 drawn classes: the
            legend's three rows).
    """
    from PIL import Image, ImageDraw

    if len(style.palette) > 3 * LEGEND_COLS:
        raise ValueError(f'the figure\'s legend holds {3 * LEGEND_COLS} classes, the style '
                         f'has {len(style.palette)}')
    boxes = layout(width)
    canvas = Image.new('RGB', boxes['size'], BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    font, small = _font(13), _font(11)
    _title(draw, boxes['title_cams'], f'cameras - {info.get("token", "")}', font)
    for cam, box in boxes['cams'].items():
        tile = load_camera_image(data_root, info, cam).resize(
            (box[2] - box[0], box[3] - box[1]), Image.BILINEAR)
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
    if renderer is None or renderer.style is not style or \
            (renderer.width, renderer.height) != (p3[2] - p3[0], p3[3] - p3[1]):
        renderer = VoxelRenderer(p3[2] - p3[0], p3[3] - p3[1], style)
    canvas.paste(Image.fromarray(renderer.render(pred)), boxes['pred_3d'][:2])
    canvas.paste(Image.fromarray(renderer.render(gt)), boxes['gt_3d'][:2])
    _title(draw, boxes['title_bev'], 'BEV: prediction', font)
    draw.text((half + 6, boxes['title_bev'][1] + 3), 'BEV: ground truth',
              fill=(255, 255, 255), font=font)
    _paste_bev(canvas, draw, boxes['pred_bev'], pred, style)
    _paste_bev(canvas, draw, boxes['gt_bev'], gt, style)
    for key in ('pred_3d', 'gt_3d', 'pred_bev', 'gt_bev'):  # the same frame on each panel
        left, top, right, bottom = boxes[key]
        draw.rectangle((left, top, right - 1, bottom - 1), outline=(40, 40, 40))
    lg = boxes['legend']
    col_w = width // LEGEND_COLS
    for label, name in enumerate(style.class_names[:style.free_label]):
        x = lg[0] + 4 + (label % LEGEND_COLS) * col_w
        y = lg[1] + 4 + (label // LEGEND_COLS) * LEGEND_ROW_H
        draw.rectangle((x, y + 2, x + 14, y + 16), fill=tuple(int(c) for c in style.palette[label]),
                       outline=(60, 60, 60))
        draw.text((x + 19, y + 3), name, fill=(0, 0, 0), font=small)
    return canvas


def save_png_atomic(image, path):
    """Writes ``image`` to ``path`` through a temporary file + rename."""
    with atomic_path(path, suffix='.png') as tmp:
        image.save(tmp, format='PNG')
