"""Scoring a folder of saved predictions against the Occ3D ground truth of an info file.

A prediction folder holds one ``<sample_token>.npz`` per keyframe, key ``pred``: uint8
[200, 200, 16] labels (17 = free), indexed [x, y, z] in the keyframe's ego frame (what
``val.py --save-pred`` writes). Ground truth comes from each info's ``occ_path`` (relative
to the data root), the ray origins from the infos' ego poses (``core.ego_pose``).
"""
import os

import numpy as np

from core.ego_pose import ray_origins_of_infos
from core.errors import DataFileError, missing_file
from core.grid_io import load_npz_grids
from core.infos import load_info_file
from core.occ3d import OCC3D_CLASS_NAMES

from .old_metrics import Metric_mIoU
from .ray_metrics import THRESHOLDS, cast_pred_and_gt, rayiou_counts, rayiou_from_counts

PRED_SUFFIX = '.npz'


def index_predictions(pred_dir):
    """Prediction files by sample token (one directory listing, O(N))."""
    if not os.path.isdir(pred_dir):
        raise missing_file(pred_dir, 'prediction folder')
    return {name[:-len(PRED_SUFFIX)]: os.path.join(pred_dir, name)
            for name in os.listdir(pred_dir) if name.endswith(PRED_SUFFIX)}


def evaluate(data_root, pred_dir, ann_file, progress=True):
    """RayIoU (RayIoU@1/2/4, per class) and camera-mask mIoU of a prediction folder.

    Every keyframe of ``ann_file`` must have a prediction; GT-as-prediction gives
    RayIoU 1.0 and mIoU 100.

    Returns:
        dict: ``RayIoU``, ``RayIoU@1``, ``RayIoU@2``, ``RayIoU@4`` (fractions), ``mIoU``
        (percent), ``per_class_RayIoU`` (class -> IoU per threshold), ``per_class_IoU``
        (percent), ``num_samples``.
    """
    from tqdm import tqdm

    if not os.path.isdir(data_root):
        raise missing_file(data_root, 'data root')
    infos = load_info_file(ann_file, data_root)[1]
    predictions = index_predictions(pred_dir)
    missing = [info['token'] for info in infos if info['token'] not in predictions]
    if missing:
        raise missing_file(os.path.join(pred_dir, missing[0] + PRED_SUFFIX),
                           f'prediction ({len(missing)} of {len(infos)} keyframes have none)')
    origins = ray_origins_of_infos(infos)
    counts = np.zeros((2 + len(THRESHOLDS), len(OCC3D_CLASS_NAMES)), dtype=np.int64)
    miou = Metric_mIoU(len(OCC3D_CLASS_NAMES), use_image_mask=True)
    for info in tqdm(infos, desc='ray metrics', unit='sample', disable=not progress):
        gt_path = os.path.join(data_root, info['occ_path'])
        gt = load_npz_grids(gt_path, ['semantics', 'mask_camera'], 'ground truth')
        pred_path = predictions[info['token']]
        pred = load_npz_grids(pred_path, ['pred'], 'prediction')['pred']
        if pred.min() < 0 or pred.max() >= len(OCC3D_CLASS_NAMES):
            raise DataFileError(pred_path, f'prediction: labels must lie in [0, '
                                           f'{len(OCC3D_CLASS_NAMES) - 1}], found '
                                           f'[{pred.min()}, {pred.max()}]')
        pred = pred.astype(np.uint8)
        counts += rayiou_counts(*cast_pred_and_gt(pred, gt['semantics'], origins[info['token']]))
        miou.add_batch(pred, gt['semantics'], None, gt['mask_camera'])
    ray = rayiou_from_counts(counts, OCC3D_CLASS_NAMES, verbose=progress)
    result = {key: ray[key] for key in ['RayIoU'] + [f'RayIoU@{t:g}' for t in THRESHOLDS]}
    result['mIoU'] = float(miou.count_miou(verbose=progress))
    result['per_class_RayIoU'] = ray['per_class']
    result['per_class_IoU'] = {name: float(iou) * 100 for name, iou in
                               zip(OCC3D_CLASS_NAMES[:-1], miou.per_class_iou()[:-1])}
    result['num_samples'] = len(infos)
    return result
