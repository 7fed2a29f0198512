"""Temporal stereo cue for the DepthNet: a plane-sweep matching cost against a past frame.

A monocular DepthNet has to *recognise* how far an object is; between two frames of a moving
camera, depth is a matter of geometry: a current-frame pixel at depth d lies at one 3D point,
which projects to one pixel of the past frame, and only at the true depth do the two images
show the same surface. For every feature cell and depth bin, the frustum point (already in
the augmented current ego frame) is projected into the same camera's past frame with its
``ego2img`` (ego motion included), the past features are sampled there, and the cosine
similarity of the two feature vectors, per channel group, is the matching cost
(BEVStereo / SOLOFusion-style temporal stereo). A small conv turns the cost into depth-logit
corrections. Side cameras see the ego motion as a lateral baseline (metres in 0.5 s), the
front and back cameras as motion along the optical axis, which is informative away from
the image centre; moving objects and unseen points (outside the past image) simply give a
cost the network learns to discount.

Pixel convention: as everywhere in the models, ``ego2img`` puts pixel centres at integer
(u, v), and sampling normalises to ``((u + 0.5) / W, (v + 0.5) / H)`` for
``grid_sample(align_corners=False)``.
"""
import torch.nn as nn
import torch.nn.functional as F

from mmdet3d.registry import MODELS

from ..layers.depth_weighted_sampling import project_points


@MODELS.register_module()
class TemporalStereoCost(nn.Module):
    """Plane-sweep cost volume between current and past features of the same camera.

    Args:
        in_channels (int): C of the matched features.
        num_groups (int): channel groups; each gives one cosine similarity per depth bin.
        num_bins (int): D, depth bins of the DepthNet (the sweep's planes).
        mid_channels (int): width of the conv that turns costs into depth-logit terms.
        eps (float): minimum camera depth (metres) of a point projected into the past frame.
    """

    def __init__(self, in_channels, num_groups, num_bins, mid_channels, eps=0.1):
        super().__init__()
        if in_channels % num_groups:
            raise ValueError(f'TemporalStereoCost: in_channels {in_channels} must be '
                             f'divisible by num_groups {num_groups}')
        self.num_groups = int(num_groups)
        self.num_bins = int(num_bins)
        self.eps = float(eps)
        # Costs of neighbouring bins and cells are read together: a match is a peak along d.
        self.encoder = nn.Sequential(
            nn.Conv2d(self.num_groups * self.num_bins, mid_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(mid_channels), nn.ReLU(inplace=True),
            nn.Conv2d(mid_channels, self.num_bins, 1))

    def cost(self, current, past, points, past_ego2img, img_shape):
        """Matching cost per cell and depth bin.

        Args:
            current (Tensor): float [M, C, h, w] current-frame features (M = B * N cameras).
            past (Tensor): float [M, C, h, w] the same cameras' past-frame features.
            points (Tensor): float [M, D, h, w, 3] frustum points of the current cells,
                metres, augmented current ego frame.
            past_ego2img (Tensor): float [M, 4, 4] current ego -> the past image's
                augmented pixels.
            img_shape (tuple of 2 ints): (H, W) of the augmented images in pixels.

        Returns:
            Tensor: float [M, G, D, h, w] cosine similarity per channel group, 0 where the
            point falls outside the past image or behind its camera.
        """
        cams, channels, height, width = current.shape
        bins = points.shape[1]
        uv, visible, _ = project_points(points.reshape(cams, -1, 3), past_ego2img[:, None],
                                        img_shape, self.eps)                  # [M, 1, P, 2]
        grid = (uv * 2 - 1).reshape(cams, bins * height, width, 2).to(past.dtype)
        sampled = F.grid_sample(past, grid, mode='bilinear', padding_mode='zeros',
                                align_corners=False)                      # [M, C, D*h, w]
        groups = self.num_groups
        sampled = F.normalize(sampled.view(cams, groups, -1, bins, height, width), dim=2)
        anchor = F.normalize(current.view(cams, groups, -1, 1, height, width), dim=2)
        similarity = (sampled * anchor).sum(2)                            # [M, G, D, h, w]
        return similarity * visible.view(cams, 1, bins, height, width).to(similarity.dtype)

    def forward(self, current, past, points, past_ego2img, img_shape, out_size):
        """Depth-logit corrections from the matching cost.

        Args:
            current, past, points, past_ego2img, img_shape: see :meth:`cost`.
            out_size (tuple of 2 ints): (h', w') of the DepthNet's output; the cost is
                average-pooled to it when the matched features are finer.

        Returns:
            Tensor: float [M, D, h', w'], added to the DepthNet's depth logits.
        """
        similarity = self.cost(current, past, points, past_ego2img, img_shape)
        similarity = similarity.flatten(1, 2)                            # [M, G*D, h, w]
        if tuple(similarity.shape[-2:]) != tuple(out_size):
            similarity = F.adaptive_avg_pool2d(similarity, out_size)
        return self.encoder(similarity)
