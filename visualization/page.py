"""The interactive page: one self-contained HTML file per keyframe or per scene.

The page embeds plotly.js (the offline bundle of the ``plotly`` PyPI package, MIT) and its
data, so it opens offline by double-click, without a server. In the browser it

* inflates each grid (``DecompressionStream``), meshes its *visible* voxel faces only (a face
  is drawn where the neighbour across it is free, hidden or outside the grid: a voxel
  surrounded on all six sides draws nothing) and draws them as plotly ``mesh3d`` traces,
  coloured by class and shaded by face direction (unlit, so every colour is exact);
* shows the prediction beside the ground truth with linked cameras (turn one, both turn),
  or the error view (false positives, false negatives, wrong class) beside the ground truth;
* switches classes on and off from the legend (the faces behind a hidden class appear);
* shows the six camera images, the ego vehicle (box and heading arrow at the ego origin,
  the path of the scene's keyframes) and the sample's RayIoU and mIoU when given;
* for a scene, a frame slider: a keyframe's grids are inflated and meshed when it is shown.

Output is byte-identical for identical inputs (no timestamps, no random ids; the JPEGs and
the zlib streams are deterministic). docs/visualization.md has the measured size and speed.
"""
import base64
import html
import io
import json
import math
import os
import zlib

import numpy as np

from core.atomic_file import atomic_path
from core.ego_pose import invert_pose

from .camera_images import load_camera_image
from .style import CAMERA_GRID, EGO_SIZE, OCC3D_STYLE

ASSETS = os.path.dirname(os.path.abspath(__file__))
# Camera images are re-encoded at this width (px) and JPEG quality: a nuScenes 1600 x 900
# frame shrinks to about 30 kB, which keeps a page with six of them within its size budget.
IMAGE_WIDTH = 480
JPEG_QUALITY = 80
# Brightness of a face by its outward normal (+x, -x, +y, -y, +z, -z): the top is the class
# colour itself, the sides and the bottom darker, so that faces stay apart without lighting.
FACE_SHADES = (0.8, 0.8, 0.65, 0.65, 1.0, 0.5)
# The error view: (name, RGB) by error kind.
ERROR_KINDS = (('false positive', (228, 26, 28)),    # predicted occupied, free in the GT
               ('false negative', (55, 126, 184)),   # occupied in the GT, predicted free
               ('wrong class', (255, 127, 0)))       # both occupied, labels differ
EGO_HEIGHT = 1.6  # metres, the drawn ego box
# plotly's scene camera (scene-normalised units) of the first render: behind and above the
# ego car, looking forward and down, as the PNG figure's 3D view.
INITIAL_CAMERA = {'eye': {'x': -1.2, 'y': 0.0, 'z': 0.8},
                  'center': {'x': 0.0, 'y': 0.0, 'z': -0.06},
                  'up': {'x': 0.0, 'y': 0.0, 'z': 1.0}}
METRIC_KEYS = ('RayIoU', 'RayIoU@1', 'RayIoU@2', 'RayIoU@4', 'mIoU')


def grid_payload(labels, style=OCC3D_STYLE):
    """Base64 of the zlib stream of a drawn label grid.

    Args:
        labels: integer [X, Y, Z] labels indexed [x, y, z] on ``style``'s grid (labels above
            the free label drawn as free, see :meth:`style.GridStyle.drawn_labels`).
        style (GridStyle): the grid and labels.

    Returns:
        str: base64 (ASCII) of ``zlib.compress(uint8 C-order bytes, 9)``.
    """
    grid = style.drawn_labels(labels)
    return base64.b64encode(zlib.compress(np.ascontiguousarray(grid).tobytes(), 9)).decode()


def image_payload(image, width=IMAGE_WIDTH):
    """A ``data:image/jpeg`` URI of ``image`` (PIL RGB) resized to ``width`` px wide (aspect
    kept; never enlarged)."""
    from PIL import Image

    if image.width > width:
        image = image.resize((width, max(1, round(image.height * width / image.width))),
                             Image.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, format='JPEG', quality=JPEG_QUALITY)
    return 'data:image/jpeg;base64,' + base64.b64encode(buffer.getvalue()).decode()


def ego_path(info, scene_infos, style=OCC3D_STYLE):
    """Positions of the ego vehicle at the scene's keyframes, in ``info``'s ego frame.

    Args:
        info (dict): the keyframe shown (``ego2global`` float [4, 4]).
        scene_infos (list[dict]): the keyframes of its scene, time order.
        style (GridStyle): whose grid bounds the path.

    Returns:
        list: ``[x, y, z]`` metres (rounded to cm) of the positions inside the grid's x / y
        range, time order.
    """
    to_ego = invert_pose(info['ego2global'])
    low, high = np.array(style.occ_grid.grid_min[:2]), np.array(style.occ_grid.grid_max[:2])
    path = []
    for other in scene_infos:
        position = (to_ego @ np.asarray(other['ego2global'], np.float64)[:, 3])[:3]
        if (low <= position[:2]).all() and (position[:2] <= high).all():
            path.append([round(float(v), 2) for v in position])
    return path


def frame_data(data_root, info, pred, gt=None, metrics=None, scene_infos=(),
               image_width=IMAGE_WIDTH, style=OCC3D_STYLE):
    """What the page holds of one keyframe (JSON-ready).

    Args:
        data_root (str): root the info's camera paths are relative to.
        info (dict): the keyframe's info (``token``, ``cams``, ``ego2global``, optional
            ``scene_name`` and ``timestamp``).
        pred, gt: integer [X, Y, Z] label grids indexed [x, y, z] in the keyframe's ego
            frame, on ``style``'s grid; ``gt`` may be None (no ground truth).
        metrics (dict): optional ``RayIoU``, ``RayIoU@1/2/4`` (fractions) and ``mIoU``
            (percent) of this keyframe.
        scene_infos (list[dict]): the keyframes of its scene, for the ego path.
        image_width (int): camera image width in the page, px.
        style (GridStyle): the grid and labels of ``pred`` and ``gt``.

    Raises:
        FileNotFoundError, DataFileError: a camera image is missing or unreadable.
    """
    pose = np.asarray(info['ego2global'], np.float64)
    heading = math.degrees(math.atan2(pose[1, 0], pose[0, 0]))
    return {
        'token': info['token'],
        'scene': info.get('scene_name', ''),
        'timestamp': int(info.get('timestamp', 0)),
        'pred': grid_payload(pred, style),
        'gt': None if gt is None else grid_payload(gt, style),
        'metrics': None if metrics is None else {
            key: None if metrics[key] is None or not math.isfinite(metrics[key])
            else round(float(metrics[key]), 4) for key in METRIC_KEYS},
        'ego': {'x': round(float(pose[0, 3]), 2), 'y': round(float(pose[1, 3]), 2),
                'heading_deg': round(heading, 1)},
        'path': ego_path(info, scene_infos, style),
        'cameras': [[cam, image_payload(load_camera_image(data_root, info, cam), image_width)]
                    for row in CAMERA_GRID for cam in row],
    }


def _settings(style):
    grid = style.occ_grid
    return {
        'classes': [{'name': name, 'rgb': [int(c) for c in style.palette[label]]}
                    for label, name in enumerate(style.class_names[:style.free_label])],
        'errors': [{'name': name, 'rgb': list(rgb)} for name, rgb in ERROR_KINDS],
        'grid': {'shape': list(grid.grid_shape), 'min': list(grid.grid_min),
                 'voxel_size': grid.voxel_size},
        'face_shades': list(FACE_SHADES),
        'ego_size': [EGO_SIZE[0], EGO_SIZE[1], EGO_HEIGHT],
        'camera': INITIAL_CAMERA,
    }


def _asset(name):
    with open(os.path.join(ASSETS, name), encoding='utf-8') as f:
        return f.read()


def page_html(title, frames, style=OCC3D_STYLE):
    """The page of ``frames`` (:func:`frame_data` dicts, time order; one for a sample page,
    a scene's keyframes for a scene page with a frame slider, all drawn with ``style``) as
    one HTML string."""
    from plotly.offline import get_plotlyjs

    if not frames:
        raise ValueError('a page needs at least one frame')
    data = dict(_settings(style), title=title, frames=list(frames))
    # Inside <script>, "</" could close the element: JSON allows the escaped form.
    payload = json.dumps(data, sort_keys=True, separators=(',', ':'),
                         allow_nan=False).replace('</', '<\\/')
    return ''.join([
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>',
        html.escape(title), '</title>\n<style>\n', _asset('page.css'), '</style>\n',
        '<script>', get_plotlyjs(), '</script>\n</head>\n<body>\n', _asset('page_body.html'),
        '<script type="application/json" id="occ-data">', payload, '</script>\n',
        '<script>\n', _asset('page.js'), '</script>\n</body>\n</html>\n'])


def write_page(path, text):
    """Writes ``text`` to ``path`` (UTF-8) through a temporary file + rename."""
    with atomic_path(path, suffix='.html') as tmp, open(tmp, 'w', encoding='utf-8',
                                                         newline='\n') as f:
        f.write(text)
