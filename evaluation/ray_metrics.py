"""RayIoU and RayPQ: occupancy scored along LiDAR-like rays (SparseOcc's definition).

For each sample, 14,040 rays (39 pitch angles x 360 azimuths) are cast from each of up to
8 origins (ego-frame metres) through the predicted and the ground-truth label grids. A ray
stops at the first non-free voxel and yields that voxel's label and the distance at which
the ray leaves it (rays that hit nothing yield the last voxel inside the grid, i.e. free;
see ``models.ops.ray_cast`` for origins outside the grid). Rays whose ground-truth label is
free are dropped. For class c and threshold t, a ray is a true positive when both labels
are c and |d_pred - d_gt| < t; IoU_{c,t} = TP / (GT + PRED - TP), RayIoU@t = mean over the
17 non-free classes (classes absent from both prediction and ground truth are nan and
skipped), RayIoU = mean over t in (1, 2, 4) m.

Grids are Occ3D's (200 x 200 x 16 voxels of 0.4 m, free = 17) unless an ``occ_grid`` and a
``free_label`` say otherwise.

RayPQ follows SparseOcc's ``loaders/ray_pq.py``: ground-truth rays form one segment per
instance only for the 8 thing classes of :data:`core.occ3d.OCC3D_THING_CLASSES` (every other
class is one segment per class and sample), and RayPQ is the nan-mean over the whole
[thresholds x classes] array of per-class PQ.
"""
import collections
import hashlib
import math
import os

import numpy as np
import torch

from core.occ3d import FREE_LABEL, GRID_SHAPE, OCC3D_CLASS_NAMES, OCC3D_THING_CLASSES, OccGrid
from models.ops import ray_cast

THRESHOLDS = (1.0, 2.0, 4.0)
MAX_ORIGINS = 8


def generate_lidar_rays():
    """Unit directions of the LiDAR-like query rays, in the ego frame.

    Pitch angles -(pi/2 - atan(k + 1)) for k = 0..9, continued with the last spacing while
    below 0.21 rad (the upper edge of the nuScenes LiDAR's field of view); azimuths every
    degree from 0 to 359.

    Returns:
        np.ndarray: float64 [39 * 360, 3], pitch-major order.
    """
    pitches = [-(math.pi / 2 - math.atan(k + 1)) for k in range(10)]
    while pitches[-1] < 0.21:
        pitches.append(2 * pitches[-1] - pitches[-2])
    pitch = np.asarray(pitches)[:, None]
    azimuth = np.deg2rad(np.arange(360, dtype=np.float64))[None, :]
    rays = np.stack([np.cos(pitch) * np.cos(azimuth),
                     np.cos(pitch) * np.sin(azimuth),
                     np.broadcast_to(np.sin(pitch), (pitch.shape[0], 360))], axis=-1)
    return rays.reshape(-1, 3)


LIDAR_RAYS = generate_lidar_rays()


def _as_grid(array, name, dtype=None, grid_shape=GRID_SHAPE):
    array = array.cpu().numpy() if isinstance(array, torch.Tensor) else np.asarray(array)
    if array.size != math.prod(grid_shape):
        raise ValueError(f'{name}: expected {grid_shape} voxels, got shape {array.shape}')
    array = array.reshape(grid_shape)
    return array if dtype is None else array.astype(dtype, copy=False)


def _as_origins(origins):
    """Accepts [T, 3] or [1, T, 3] ego-frame metres; keeps at most 8, evenly spread."""
    origins = origins.cpu().numpy() if isinstance(origins, torch.Tensor) else np.asarray(origins)
    if origins.ndim == 3 and origins.shape[0] == 1:
        origins = origins[0]
    origins = origins.astype(np.float64)
    if origins.ndim != 2 or origins.shape[1] != 3 or len(origins) == 0:
        raise ValueError(f'ray origins must be [T, 3] (or [1, T, 3]), got shape {origins.shape}')
    if len(origins) > MAX_ORIGINS:
        keep = np.round(np.linspace(0, len(origins) - 1, MAX_ORIGINS)).astype(np.int64)
        origins = origins[keep]
    return origins


class CastRays:
    """What the rays of one sample hit in one label grid.

    Attributes:
        labels (np.ndarray): uint8 [M], label of the stopping voxel of each kept ray.
        distances (np.ndarray): float32 [M], metres from the origin to where the ray leaves
            the stopping voxel.
        instances (np.ndarray or None): int64 [M], instance id of the stopping voxel.
    """
    __slots__ = ('labels', 'distances', 'instances')

    def __init__(self, labels, distances, instances=None):
        self.labels, self.distances, self.instances = labels, distances, instances

    @property
    def nbytes(self):
        return sum(a.nbytes for a in (self.labels, self.distances, self.instances)
                   if a is not None)


def cast_label_rays(semantics, origins, ray_mask=None, instances=None, device=None,
                    occ_grid=None, free_label=FREE_LABEL):
    """Casts the LiDAR-like rays from every origin through one label grid.

    Args:
        semantics (np.ndarray | Tensor): uint8 [X, Y, Z] labels, ``free_label`` = free.
        origins (np.ndarray): float64 [T, 3] ray origins, ego-frame metres.
        ray_mask (np.ndarray, optional): bool [T * 14040], rays to cast (origin-major order);
            all rays when None.
        instances (np.ndarray, optional): int [X, Y, Z] instance ids.
        device (torch.device | str, optional): where the rays are cast (the CUDA kernel for
            a GPU); the CPU when None. The kernels give the same voxels on every device.
        occ_grid (OccGrid or dict, optional): the grid of the labels; Occ3D's when None.
        free_label (int): the label of free space.

    Returns:
        CastRays: one entry per cast ray, in origin-major order.
    """
    occ_grid = OccGrid.of(occ_grid)
    semantics = _as_grid(semantics, 'semantics', np.uint8, occ_grid.grid_shape)
    ray_origins = np.repeat(origins, len(LIDAR_RAYS), axis=0)
    ray_dirs = np.tile(LIDAR_RAYS, (len(origins), 1))
    if ray_mask is not None:
        ray_origins, ray_dirs = ray_origins[ray_mask], ray_dirs[ray_mask]
    occupied = torch.from_numpy(semantics != free_label).to(device)
    distance, voxel = ray_cast(occupied, torch.from_numpy(ray_origins).to(device),
                               torch.from_numpy(ray_dirs).to(device), occ_grid.grid_min,
                               occ_grid.voxel_size)
    distance, voxel = distance.cpu(), voxel.cpu()
    i, j, k = voxel.numpy().T
    inst = None if instances is None else \
        _as_grid(instances, 'instances', np.int64, occ_grid.grid_shape)[i, j, k]
    return CastRays(semantics[i, j, k], distance.numpy().astype(np.float32), inst)


class GroundTruthRayCache:
    """Least-recently-used store of ground-truth casts, keyed by the grid and origins' bytes.

    Evaluating several checkpoints against the same ground truth casts each sample's ground
    truth once. Bounded by ``max_bytes`` (default 2 GiB, or ``GDOCC_RAY_CACHE_MB``).
    """

    def __init__(self, max_bytes=None):
        if max_bytes is None:
            max_bytes = int(os.environ.get('GDOCC_RAY_CACHE_MB', 2048)) * 2**20
        self.max_bytes = max_bytes
        self._entries = collections.OrderedDict()
        self._bytes = 0
        self.hits = self.misses = 0

    @staticmethod
    def key(*arrays):
        digest = hashlib.blake2b(digest_size=20)
        for array in arrays:
            if array is not None:
                digest.update(str(array.dtype).encode() + str(array.shape).encode())
                digest.update(np.ascontiguousarray(array).tobytes())
        return digest.digest()

    def get_or_cast(self, semantics, origins, instances=None, device=None, occ_grid=None,
                    free_label=FREE_LABEL):
        """Returns ``(valid, cast)``: valid is bool [T * 14040], True for rays whose
        ground-truth label is not free, and cast holds those rays only (cast on ``device``
        on a miss, see :func:`cast_label_rays`)."""
        occ_grid = OccGrid.of(occ_grid)
        setting = np.array(occ_grid.grid_min + (occ_grid.voxel_size, free_label))
        key = self.key(semantics, origins, instances, setting)
        if key in self._entries:
            self.hits += 1
            self._entries.move_to_end(key)
            packed, count, cast = self._entries[key]
            return np.unpackbits(packed, count=count).astype(bool), cast
        self.misses += 1
        cast = cast_label_rays(semantics, origins, instances=instances, device=device,
                               occ_grid=occ_grid, free_label=free_label)
        valid = cast.labels != free_label
        cast = CastRays(cast.labels[valid], cast.distances[valid],
                        None if cast.instances is None else cast.instances[valid])
        entry = (np.packbits(valid), len(valid), cast)
        size = entry[0].nbytes + cast.nbytes
        if size <= self.max_bytes:
            self._entries[key] = entry
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, (old_packed, _, old_cast) = self._entries.popitem(last=False)
                self._bytes -= old_packed.nbytes + old_cast.nbytes
        return valid, cast

    def clear(self):
        self._entries.clear()
        self._bytes = 0


GT_RAY_CACHE = GroundTruthRayCache()


def cast_pred_and_gt(sem_pred, sem_gt, origins, inst_pred=None, inst_gt=None, cache=None,
                     device=None, occ_grid=None, free_label=FREE_LABEL):
    """Casts a sample's rays through ground truth (cached) and prediction.

    Args:
        sem_pred, sem_gt: uint8 [X, Y, Z] label grids (free = ``free_label``).
        origins: [T, 3] or [1, T, 3] ray origins in ego-frame metres (more than 8 are
            evenly sub-sampled to 8).
        inst_pred, inst_gt: optional int [X, Y, Z] instance ids.
        cache (GroundTruthRayCache): defaults to the module's shared cache.
        device (torch.device | str, optional): where the rays are cast; the CPU when None.
        occ_grid (OccGrid or dict, optional): the grids' voxel grid; Occ3D's when None.
        free_label (int): the label of free space.

    Returns:
        tuple(CastRays, CastRays): prediction and ground truth, restricted to the rays whose
        ground-truth label is not free, element-wise aligned.
    """
    cache = GT_RAY_CACHE if cache is None else cache
    occ_grid = OccGrid.of(occ_grid)
    origins = _as_origins(origins)
    sem_gt = _as_grid(sem_gt, 'sem_gt', np.uint8, occ_grid.grid_shape)
    inst_gt = None if inst_gt is None else \
        _as_grid(inst_gt, 'inst_gt', np.int64, occ_grid.grid_shape)
    valid, gt = cache.get_or_cast(sem_gt, origins, inst_gt, device, occ_grid, free_label)
    pred = cast_label_rays(sem_pred, origins, ray_mask=valid, instances=inst_pred,
                           device=device, occ_grid=occ_grid, free_label=free_label)
    return pred, gt


def rayiou_counts(pred, gt, num_classes=len(OCC3D_CLASS_NAMES), thresholds=THRESHOLDS):
    """Per-class ray counts of one sample.

    Args:
        pred, gt (CastRays): aligned rays from :func:`cast_pred_and_gt`.

    Returns:
        np.ndarray: int64 [2 + len(thresholds), num_classes]: rows are GT count, prediction
        count, then true positives at each threshold. Counts of several samples add up.
    """
    counts = np.zeros((2 + len(thresholds), num_classes), dtype=np.int64)
    counts[0] = np.bincount(gt.labels, minlength=num_classes)[:num_classes]
    counts[1] = np.bincount(pred.labels, minlength=num_classes)[:num_classes]
    same = pred.labels == gt.labels
    error = np.abs(pred.distances - gt.distances)
    for row, threshold in enumerate(thresholds, start=2):
        counts[row] = np.bincount(gt.labels[same & (error < threshold)],
                                  minlength=num_classes)[:num_classes]
    return counts


def rayiou_from_counts(counts, occ_class_names=OCC3D_CLASS_NAMES, thresholds=THRESHOLDS,
                       verbose=True):
    """RayIoU from summed :func:`rayiou_counts`; prints the per-class table when verbose.

    Returns:
        dict: ``RayIoU`` and ``RayIoU@<t>`` (fractions in [0, 1]) and ``per_class``, a dict
        class name -> list of IoU per threshold (nan where the class is absent from both).
    """
    gt_cnt, pred_cnt, tp_cnt = counts[0], counts[1], counts[2:]
    with np.errstate(divide='ignore', invalid='ignore'):
        iou = tp_cnt / (gt_cnt + pred_cnt - tp_cnt)
    iou = iou[:, :len(occ_class_names) - 1]  # the last class is free
    per_threshold = [_nanmean(row) for row in iou]
    result = {'RayIoU': _nanmean(np.asarray(per_threshold))}
    for threshold, value in zip(thresholds, per_threshold):
        result[f'RayIoU@{threshold:g}'] = value
    result['per_class'] = {name: iou[:, c].tolist()
                           for c, name in enumerate(occ_class_names[:-1])}
    if verbose:
        print(format_table('RayIoU', occ_class_names[:-1], iou, thresholds, per_threshold))
    return result


def main_rayiou(sem_pred_list, sem_gt_list, lidar_origin_list,
                occ_class_names=OCC3D_CLASS_NAMES, verbose=True, occ_grid=None):
    """RayIoU over a set of samples (SparseOcc's ``main_rayiou`` API).

    Args:
        sem_pred_list, sem_gt_list: sequences of uint8 [X, Y, Z] label grids.
        lidar_origin_list: sequence of [T, 3] (or [1, T, 3]) ego-frame ray origins.
        occ_class_names: the class names, free last (Occ3D's 18).
        occ_grid (OccGrid or dict, optional): the grids' voxel grid; Occ3D's when None.

    Returns:
        dict: see :func:`rayiou_from_counts`.
    """
    _check_lengths(sem_pred_list, sem_gt_list, lidar_origin_list)
    counts = np.zeros((2 + len(THRESHOLDS), len(occ_class_names)), dtype=np.int64)
    for sem_pred, sem_gt, origins in _progress(zip(sem_pred_list, sem_gt_list,
                                                   lidar_origin_list), len(sem_gt_list)):
        counts += rayiou_counts(*cast_pred_and_gt(sem_pred, sem_gt, origins,
                                                  occ_grid=occ_grid,
                                                  free_label=len(occ_class_names) - 1),
                                num_classes=len(occ_class_names))
    return rayiou_from_counts(counts, occ_class_names, verbose=verbose)


def raypq_counts(pred, gt, num_classes=len(OCC3D_CLASS_NAMES), thresholds=THRESHOLDS,
                 min_segment_rays=10, match_iou=0.5, class_names=OCC3D_CLASS_NAMES,
                 thing_classes=OCC3D_THING_CLASSES):
    """Panoptic ray statistics of one sample (SparseOcc's ``Metric_RayPQ.add_batch``).

    Segments are sets of a sample's rays within one class ``c < num_classes - 1`` (free and
    labels outside the class range, e.g. 255, are ignored):

    - prediction: one segment per (class, predicted instance id);
    - ground truth, thing classes (``thing_classes``): one segment per instance id whose
      ground-truth rays all carry that one class; the thing rays of instance id 0 or of an
      instance spread over several classes form one more segment per class;
    - ground truth, every other class: one segment per class (instance ids ignored).

    A prediction segment matches a ground-truth segment of the same class when their IoU
    exceeds ``match_iou``; the intersection counts the rays both contain whose distance
    error is below the threshold. Unmatched segments with fewer than ``min_segment_rays``
    rays count neither as false positive nor as false negative.

    Args:
        pred, gt (CastRays): aligned rays with ``instances`` (int, 0 = no instance).
        num_classes (int): labels 0..num_classes-1, the last one free.
        class_names (sequence of str): names of the labels, to find ``thing_classes``.

    Returns:
        np.ndarray: float64 [len(thresholds), 4, num_classes]: rows are summed IoU of
        matches, TP, FP, FN (the free column stays 0). Statistics of several samples add up.
    """
    if pred.instances is None or gt.instances is None:
        raise ValueError('RayPQ needs instance ids for prediction and ground truth')
    stats = np.zeros((len(thresholds), 4, num_classes), dtype=np.float64)
    error = np.abs(pred.distances - gt.distances)
    pred_labels, gt_labels = pred.labels.astype(np.int64), gt.labels.astype(np.int64)
    scored_pred = (pred_labels >= 0) & (pred_labels < num_classes - 1)
    scored_gt = (gt_labels >= 0) & (gt_labels < num_classes - 1)
    thing_ids = [i for i, name in enumerate(class_names[:num_classes - 1])
                 if name in thing_classes]
    pred_seg = _segment_ids(pred_labels, pred.instances)
    gt_seg = _segment_ids(gt_labels, _ground_truth_segment_instances(
        gt_labels, gt.instances, thing_ids))
    pred_ids, pred_sizes = np.unique(pred_seg[scored_pred], return_counts=True)
    gt_ids, gt_sizes = np.unique(gt_seg[scored_gt], return_counts=True)
    same = scored_pred & scored_gt & (pred_labels == gt_labels)
    for t, threshold in enumerate(thresholds):
        agree = same & (error < threshold)
        pairs, inter = np.unique(np.stack([pred_seg[agree], gt_seg[agree]]), axis=1,
                                 return_counts=True)
        p_size = pred_sizes[np.searchsorted(pred_ids, pairs[0])]
        g_size = gt_sizes[np.searchsorted(gt_ids, pairs[1])]
        iou = inter / (p_size + g_size - inter)
        matched = iou > match_iou
        match_class = (pairs[1][matched] >> 32).astype(np.int64)
        np.add.at(stats[t, 0], match_class, iou[matched])
        np.add.at(stats[t, 1], match_class, 1)
        for row, ids, sizes, matched_ids in ((2, pred_ids, pred_sizes, pairs[0][matched]),
                                             (3, gt_ids, gt_sizes, pairs[1][matched])):
            unmatched = ~np.isin(ids, matched_ids) & (sizes >= min_segment_rays)
            np.add.at(stats[t, row], (ids[unmatched] >> 32).astype(np.int64), 1)
    return stats


def _ground_truth_segment_instances(labels, instances, thing_ids):
    """int64 [M]: the instance id that separates ground-truth segments within a class
    (SparseOcc's re-labelling): the ray's own id for thing-class rays of an instance whose
    rays all carry one label, 0 for every other ray."""
    instances = np.asarray(instances, dtype=np.int64)
    with_id = instances > 0
    pairs = np.unique(np.stack([instances[with_id], labels[with_id]]), axis=1)
    ids, classes_per_id = np.unique(pairs[0], return_counts=True)
    single_class = ids[classes_per_id == 1]
    keep = with_id & np.isin(labels, thing_ids) & np.isin(instances, single_class)
    return np.where(keep, instances, 0)


def _segment_ids(labels, instances):
    """One int64 id per (class, instance) pair: class in the high 32 bits."""
    return (labels.astype(np.int64) << 32) | (instances.astype(np.int64) & 0xFFFFFFFF)


def raypq_from_stats(stats, occ_class_names=OCC3D_CLASS_NAMES, thresholds=THRESHOLDS,
                     verbose=True):
    """RayPQ from summed :func:`raypq_counts`: PQ_c = sum IoU / (TP + FP/2 + FN/2) per
    threshold and non-free class (nan for a class without any segment at that threshold);
    RayPQ is the nan-mean over that whole [thresholds x classes] array, RayPQ@t the
    nan-mean of its row (SparseOcc's ``count_pq``)."""
    iou_sum, tp, fp, fn = stats[:, 0], stats[:, 1], stats[:, 2], stats[:, 3]
    with np.errstate(divide='ignore', invalid='ignore'):
        pq = iou_sum / (tp + 0.5 * fp + 0.5 * fn)
    pq = pq[:, :len(occ_class_names) - 1]
    per_threshold = [_nanmean(row) for row in pq]
    result = {'RayPQ': _nanmean(pq.ravel())}
    for threshold, value in zip(thresholds, per_threshold):
        result[f'RayPQ@{threshold:g}'] = value
    result['per_class'] = {name: pq[:, c].tolist()
                           for c, name in enumerate(occ_class_names[:-1])}
    if verbose:
        print(format_table('RayPQ', occ_class_names[:-1], pq, thresholds, per_threshold))
    return result


def main_raypq(sem_pred_list, sem_gt_list, inst_pred_list, inst_gt_list, lidar_origin_list,
               occ_class_names=OCC3D_CLASS_NAMES, verbose=True, occ_grid=None):
    """RayPQ over a set of samples (SparseOcc's ``main_raypq`` API).

    Args:
        sem_pred_list, sem_gt_list: sequences of uint8 [X, Y, Z] label grids.
        inst_pred_list, inst_gt_list: sequences of int [X, Y, Z] instance ids
            (0 = no instance: all such rays of a class form one segment per sample).
        lidar_origin_list: sequence of [T, 3] ego-frame ray origins.
        occ_class_names: the class names, free last (Occ3D's 18).
        occ_grid (OccGrid or dict, optional): the grids' voxel grid; Occ3D's when None.

    Returns:
        dict: ``RayPQ``, ``RayPQ@1``, ``RayPQ@2``, ``RayPQ@4`` and ``per_class``.
    """
    _check_lengths(sem_pred_list, sem_gt_list, inst_pred_list, inst_gt_list,
                   lidar_origin_list)
    stats = np.zeros((len(THRESHOLDS), 4, len(occ_class_names)), dtype=np.float64)
    for sem_pred, sem_gt, inst_pred, inst_gt, origins in _progress(
            zip(sem_pred_list, sem_gt_list, inst_pred_list, inst_gt_list, lidar_origin_list),
            len(sem_gt_list)):
        rays = cast_pred_and_gt(sem_pred, sem_gt, origins, inst_pred, inst_gt,
                                occ_grid=occ_grid, free_label=len(occ_class_names) - 1)
        stats += raypq_counts(*rays, num_classes=len(occ_class_names),
                              class_names=occ_class_names)
    return raypq_from_stats(stats, occ_class_names, verbose=verbose)


def format_table(metric, class_names, values, thresholds, means):
    """Text table: one row per class, one column per threshold, then the mean row."""
    headers = ['Class'] + [f'{metric}@{t:g}' for t in thresholds]
    width = max(len(n) for n in list(class_names) + ['MEAN']) + 2
    lines = [''.join(h.ljust(width if i == 0 else 12) for i, h in enumerate(headers))]
    lines.append('-' * len(lines[0]))
    for c, name in enumerate(class_names):
        lines.append(name.ljust(width) + ''.join(f'{v:<12.4f}' for v in values[:, c]))
    lines.append('-' * len(lines[0]))
    lines.append('MEAN'.ljust(width) + ''.join(f'{v:<12.4f}' for v in means))
    return '\n'.join(lines)


def _nanmean(values):
    values = np.asarray(values, dtype=np.float64)
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else float('nan')


def _check_lengths(*lists):
    lengths = {len(x) for x in lists}
    if len(lengths) != 1:
        raise ValueError(f'prediction, ground-truth and origin lists differ in length: {lengths}')


def _progress(iterable, total):
    from tqdm import tqdm
    return tqdm(iterable, total=total, desc='ray metrics', leave=False,
                disable=total < 2 or not os.isatty(2))
