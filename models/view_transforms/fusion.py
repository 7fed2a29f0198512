"""Fusion of the explicit (LSS) and implicit (voxel query) volumes of the GVT."""
import torch
import torch.nn as nn
from mmengine.model import BaseModule

from mmdet3d.registry import MODELS


@MODELS.register_module()
class GatedVolumeFusion(BaseModule):
    """Per-voxel, per-channel learned gate between the two view-transform volumes.

    ``out = g * explicit + (1 - g) * implicit`` with ``g = sigmoid(Conv3d([explicit,
    implicit]))``: where the depth-splatted volume is reliable (well-supported depth) the
    gate can favour it, elsewhere the query-sampled volume fills in. A convex combination
    keeps the output on the inputs' scale, whatever the gate learns.

    Args:
        channels (int): C of both input volumes and of the output (256 in the paper).
        kernel_size (int): odd kernel of the gate's Conv3d (3: the gate sees each voxel's
            neighbourhood; 1: purely per voxel).
        init_cfg (dict, optional): mmengine initialisation config.
    """

    def __init__(self, channels=256, kernel_size=3, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if kernel_size % 2 != 1:
            raise ValueError(f'GatedVolumeFusion: kernel_size must be odd, got {kernel_size}')
        self.channels = int(channels)
        self.gate = nn.Conv3d(2 * self.channels, self.channels, kernel_size,
                              padding=kernel_size // 2)

    def forward(self, explicit, implicit):
        """
        Args:
            explicit (Tensor): float [B, C, X, Y, Z], the LSS volume.
            implicit (Tensor): float [B, C, X, Y, Z], the voxel-query volume (same grid).

        Returns:
            Tensor: float [B, C, X, Y, Z], the fused volume.
        """
        if explicit.shape != implicit.shape or explicit.dim() != 5 or \
                explicit.shape[1] != self.channels:
            raise ValueError(f'GatedVolumeFusion: volumes must both be [B, {self.channels}, X, '
                             f'Y, Z], got {tuple(explicit.shape)} and {tuple(implicit.shape)}')
        gate = self.gate_values(explicit, implicit)
        return gate * explicit + (1 - gate) * implicit

    def gate_values(self, explicit, implicit):
        """The gate g in (0, 1), float [B, C, X, Y, Z] (for inspection and tests)."""
        return torch.sigmoid(self.gate(torch.cat([explicit, implicit], dim=1)))
