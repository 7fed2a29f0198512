"""Occ3D's voxel mIoU (the benchmark's original metric), with SparseOcc's API."""
import numpy as np

from core.occ3d import OCC3D_CLASS_NAMES


class Metric_mIoU:  # noqa: N801 -- the name researchers already call
    """Accumulates a voxel confusion matrix over samples and reports per-class IoU.

    Args:
        num_classes (int): labels 0..num_classes-1, the last one is free (not averaged).
        use_lidar_mask (bool): score only voxels where ``mask_lidar`` is set.
        use_image_mask (bool): score only voxels where ``mask_camera`` is set (takes
            precedence over the LiDAR mask, as in Occ3D).
        class_names (sequence of str): names for the printed table.
    """

    def __init__(self, num_classes=18, use_lidar_mask=False, use_image_mask=True,
                 class_names=OCC3D_CLASS_NAMES):
        if len(class_names) != num_classes:
            raise ValueError(f'{len(class_names)} class names for {num_classes} classes')
        self.num_classes = num_classes
        self.use_lidar_mask = use_lidar_mask
        self.use_image_mask = use_image_mask
        self.class_names = tuple(class_names)
        self.hist = np.zeros((num_classes, num_classes), dtype=np.int64)
        self.cnt = 0

    def add_batch(self, semantics_pred, semantics_gt, mask_lidar=None, mask_camera=None):
        """Adds one sample.

        Args:
            semantics_pred, semantics_gt (np.ndarray): integer label grids of equal shape
                (e.g. uint8 [200, 200, 16]).
            mask_lidar, mask_camera (np.ndarray): 0/1 or bool grids of the same shape.
        """
        semantics_pred, semantics_gt = np.asarray(semantics_pred), np.asarray(semantics_gt)
        if semantics_pred.shape != semantics_gt.shape:
            raise ValueError(f'prediction shape {semantics_pred.shape} != ground truth '
                             f'shape {semantics_gt.shape}')
        mask = None
        if self.use_image_mask:
            mask = self._mask(mask_camera, 'mask_camera', semantics_gt.shape)
        elif self.use_lidar_mask:
            mask = self._mask(mask_lidar, 'mask_lidar', semantics_gt.shape)
        if mask is not None:
            semantics_pred, semantics_gt = semantics_pred[mask], semantics_gt[mask]
        self.hist += self.confusion(semantics_pred.ravel(), semantics_gt.ravel())
        self.cnt += 1

    @staticmethod
    def _mask(mask, name, shape):
        if mask is None:
            raise ValueError(f'{name} is required by this metric configuration')
        mask = np.asarray(mask)
        if mask.shape != shape:
            raise ValueError(f'{name} shape {mask.shape} != ground truth shape {shape}')
        return mask.astype(bool)

    def confusion(self, pred, gt):
        """int64 [num_classes, num_classes] confusion matrix, rows = ground truth."""
        valid = (gt >= 0) & (gt < self.num_classes)
        index = self.num_classes * gt[valid].astype(np.int64) + pred[valid].astype(np.int64)
        return np.bincount(index, minlength=self.num_classes**2).reshape(
            self.num_classes, self.num_classes)

    def per_class_iou(self):
        """float64 [num_classes] IoU per class; nan for every class absent from the ground
        truth, even when predicted (Occ3D's / SparseOcc's ``per_class_iu``), so such
        classes are skipped by the mean."""
        tp = np.diag(self.hist).astype(np.float64)
        with np.errstate(divide='ignore', invalid='ignore'):
            iou = tp / (self.hist.sum(0) + self.hist.sum(1) - tp)
        iou[self.hist.sum(1) == 0] = np.nan
        return iou

    def count_miou(self, verbose=True):
        """Prints per-class IoU and returns the mIoU (percent, rounded to 2 decimals) over
        the non-free classes present in the ground truth."""
        iou = self.per_class_iou()[:self.num_classes - 1]
        present = iou[~np.isnan(iou)]
        miou = round(float(present.mean()) * 100, 2) if present.size else float('nan')
        if verbose:
            print(f'===> per class IoU of {self.cnt} samples:')
            for name, value in zip(self.class_names, iou):
                print(f'===> {name} - IoU = {round(float(value) * 100, 2)}')
            print(f'===> mIoU of {self.cnt} samples: {miou}')
        return miou
