"""LSS depth loss (BEVDepth / BEVDet style): binary cross-entropy between the predicted
categorical depth distribution of every feature pixel and the one-hot bin of its LiDAR depth.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmdet3d.registry import MODELS


@MODELS.register_module()
class DepthLoss(nn.Module):
    """BCE of categorical depth against one-hot LiDAR depth bins.

    Bins: ``depth_bound = (d_min, d_max, step)`` metres gives D = round((d_max - d_min) /
    step) bins; bin i covers [d_min + i * step, d_min + (i + 1) * step). Pixels without
    LiDAR depth (GT 0) or whose depth falls outside [d_min, d_max) are ignored. The loss is
    the BCE summed over the D bins of a pixel, averaged over the valid pixels.

    Args:
        depth_bound (sequence of 3 floats): (d_min, d_max, step) in metres, the DepthNet's
            bins, e.g. (1.0, 45.0, 0.5).
        loss_weight (float): multiplier of the loss.
    """

    def __init__(self, depth_bound, loss_weight=1.0):
        super().__init__()
        self.depth_min, self.depth_max, self.depth_step = (float(v) for v in depth_bound)
        if self.depth_step <= 0 or self.depth_max <= self.depth_min:
            raise ValueError(f'DepthLoss: bad depth_bound {tuple(depth_bound)}')
        self.num_bins = int(round((self.depth_max - self.depth_min) / self.depth_step))
        self.loss_weight = loss_weight

    def one_hot(self, depth_gt):
        """Discretises metric depth.

        Args:
            depth_gt (Tensor): float [..., h, w] depth in metres, 0 where unknown.

        Returns:
            tuple(Tensor, Tensor): one-hot float [..., D, h, w] and valid bool [..., h, w].
        """
        index = torch.floor((depth_gt - self.depth_min) / self.depth_step).long()
        valid = (depth_gt > 0) & (index >= 0) & (index < self.num_bins)
        one_hot = F.one_hot(index.clamp(0, self.num_bins - 1), self.num_bins)
        one_hot = one_hot.movedim(-1, -3).to(depth_gt.dtype)
        return one_hot, valid

    def forward(self, depth_pred, depth_gt):
        """
        Args:
            depth_pred (Tensor): float [B * N, D, h, w], per-pixel depth probabilities
                (softmax over D) of the cameras that have LiDAR depth (current frame).
            depth_gt (Tensor): float [B, N, h, w] or [B * N, h, w], LiDAR depth in metres
                at the same feature resolution (0 = no point).

        Returns:
            Tensor: scalar loss times ``loss_weight`` (0, with a graph, when no pixel has a
            valid depth).
        """
        depth_gt = depth_gt.reshape(-1, *depth_gt.shape[-2:]).to(depth_pred.dtype)
        if depth_pred.dim() != 4 or depth_pred.shape[1] != self.num_bins or \
                depth_pred.shape[0] != depth_gt.shape[0] or \
                depth_pred.shape[2:] != depth_gt.shape[1:]:
            raise ValueError(f'DepthLoss: depth_pred must be [B*N, D={self.num_bins}, h, w] '
                             f'matching depth_gt, got {tuple(depth_pred.shape)} and '
                             f'{tuple(depth_gt.shape)}')
        one_hot, valid = self.one_hot(depth_gt)
        pred = depth_pred.movedim(1, -1)[valid]      # [P, D]
        target = one_hot.movedim(1, -1)[valid]       # [P, D]
        if pred.shape[0] == 0:
            return depth_pred.sum() * 0.0
        # BCE saturates (log 0) if a probability is exactly 0 or 1; clamp like BEVDepth. CUDA
        # autocast refuses binary_cross_entropy (unsafe in float16): float32, autocast off.
        with torch.autocast(pred.device.type, enabled=False):
            loss = F.binary_cross_entropy(pred.float().clamp(1e-6, 1 - 1e-6), target.float(),
                                          reduction='sum')
        return self.loss_weight * loss / pred.shape[0]
