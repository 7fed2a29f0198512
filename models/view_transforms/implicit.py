"""Implicit (voxel query) branch of GD-OCC's geometry-driven view transformation.

Every voxel of a coarse grid is a query, initialised from the explicit (LSS) volume plus a
learned embedding of its centre. Each query predicts P sample points around its centre per
channel group, projects them into every view (the cameras of the current and the past
frames), samples the multi-scale image features there and trusts each sample in proportion
to the **depth probability the DepthNet predicted at the sample's depth along that camera's
ray**: a point that the current cameras believe to be empty space (or occluded) brings
(almost) nothing. The sampling is the decoder's and the head's
(:class:`models.layers.depth_weighted_sampling.MultiviewImages`, one per forward), under
this branch's conventions (:attr:`ImplicitViewTransform.SAMPLING`).

Frames and conventions:

- Points live in the augmented current ego frame, metres. ``ego2img`` [B, V, 4, 4] maps them
  to ``(u d, v d, d, 1)`` of view v (past frames included, so ego motion is already inside
  the matrices); views are frame-major, ``view = t * num_cams + camera``, frame 0 current.
- Feature sampling normalises pixels as ``((u + 0.5) / W, (v + 0.5) / H)`` ([0, 1] = inside
  the closed image square). In each frame a point reads the first camera that has it in
  front (d > eps) and inside the image; frames that see it are averaged, frames that do not
  read nothing.
- The depth lookup uses the same positions, which match the LSS convention
  (``models/view_transforms/lss.py``): pixel centres at integer (u, v), feature cell j of
  stride s centred at pixel ``j s + (s - 1) / 2``, depth bin k of
  ``depth_bins = (d_min, d_max, step)`` centred at ``d_min + (k + 0.5) step``.
  The lookup is bilinear in (u, v) between cell centres (clamped at the border cells) and
  linear in depth between bin centres (clamped to the first / last bin inside
  [d_min, d_max)); depths outside [d_min, d_max) get probability 0.
- Past frames have no depth prediction: their samples get depth weight 1 (plain
  view-sampling), i.e. geometry gates the current frame's views only.
- Volumes are ``[B, C, X, Y, Z]``; query q is voxel (i, j, k) with q = (i Y + j) Z + k (the
  order of ``volume.flatten(2)``), centred at ``grid_min + (index + 0.5) voxel_size``.
"""
import torch
import torch.nn as nn
from mmengine.model import BaseModule

from mmdet3d.registry import MODELS

from core.geometry import dense_coords, voxel_centres
from core.occ3d import GRID_MIN


@MODELS.register_module()
class ImplicitViewTransform(BaseModule):
    """Voxel queries that sample multi-view, multi-scale image features, depth-weighted.

    The defaults are the paper setting: 256 channels, the decoder's coarsest grid (25 x 25 x
    2 voxels of 3.2 m over the Occ3D range), 4 points in each of 4 groups over 4 FPN levels,
    offsets up to one voxel. Cameras, frames and the depth bins are the images' (the
    :class:`MultiviewImages` passed to ``forward``).

    Args:
        embed_dims (int): C of the queries, the image features and the output volume.
        grid_min (sequence of 3 floats): metres of the grid's lowest corner (current ego).
        grid_shape (sequence of 3 ints): (X, Y, Z) of the coarse query grid, e.g. (50, 50, 4);
            the explicit volume passed to ``forward`` must have this shape.
        voxel_size (float or sequence of 3 floats): voxel edge(s) of that grid, metres.
        num_points (int): P, sample points per query and channel group.
        num_levels (int): L, feature pyramid levels sampled.
        num_groups (int): G, channel groups; each has its own points and level weights
            (the images' G: they are laid out per group once for every sampler).
        offset_range (float or sequence of 3 floats, optional): the largest offset of a sample
            from the voxel centre per axis, metres (offsets are ``tanh(.) * offset_range``);
            default ``voxel_size``.
        use_depth_weight (bool): multiply each current-frame sample's level weights by the
            predicted depth probability at its depth; False is the no-geometry ablation.
        in_channels (int, optional): C of the explicit volume if not ``embed_dims`` (a linear
            map then brings it to ``embed_dims``).
        pos_hidden_dims (int, optional): hidden width of the positional MLP (embed_dims).
        ffn_dims (int, optional): hidden width of the FFN (2 x embed_dims).
        eps (float): minimum camera depth (metres) of a visible point.
        init_cfg (dict, optional): mmengine initialisation config.
    """

    # How this branch reads the images, unlike SparseOcc's decoder and head: pixel centres on
    # feature-cell centres (as the LSS depth cells), the closed image square, and frames that
    # do not see a point read nothing, so that they can be left out of its average.
    SAMPLING = dict(align_corners=False, strict_visibility=False,
                    unseen_reads_first_camera=False, level_weight_layout='per_group')

    def __init__(self, embed_dims=256, grid_min=GRID_MIN, grid_shape=(25, 25, 2),
                 voxel_size=3.2, num_points=4, num_levels=4, num_groups=4, offset_range=None,
                 use_depth_weight=True, in_channels=None, pos_hidden_dims=None, ffn_dims=None,
                 eps=1e-2, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        offset_range = voxel_size if offset_range is None else offset_range
        self.embed_dims = int(embed_dims)
        self.grid_min = tuple(float(v) for v in grid_min)
        self.grid_shape = tuple(int(s) for s in grid_shape)
        if isinstance(voxel_size, (int, float)):
            voxel_size = (voxel_size,) * 3
        self.voxel_size = tuple(float(v) for v in voxel_size)
        if isinstance(offset_range, (int, float)):
            offset_range = (offset_range,) * 3
        if len(self.grid_min) != 3 or len(self.grid_shape) != 3 or \
                len(self.voxel_size) != 3 or len(offset_range) != 3:
            raise ValueError('ImplicitViewTransform: grid_min, grid_shape, voxel_size and '
                             'offset_range need 3 values each')
        self.num_points = int(num_points)
        self.num_levels = int(num_levels)
        self.num_groups = int(num_groups)
        if self.embed_dims % self.num_groups:
            raise ValueError(f'ImplicitViewTransform: num_groups {num_groups} must divide '
                             f'embed_dims {embed_dims}')
        self.use_depth_weight = bool(use_depth_weight)
        self.eps = float(eps)
        self.register_buffer('offset_range', torch.tensor(offset_range, dtype=torch.float32),
                             persistent=False)

        in_channels = self.embed_dims if in_channels is None else int(in_channels)
        self.query_proj = (nn.Identity() if in_channels == self.embed_dims
                           else nn.Linear(in_channels, self.embed_dims))
        pos_hidden = pos_hidden_dims or self.embed_dims
        self.pos_embed = nn.Sequential(nn.Linear(3, pos_hidden), nn.ReLU(inplace=True),
                                       nn.Linear(pos_hidden, self.embed_dims))
        gp = self.num_groups * self.num_points
        self.offsets = nn.Linear(self.embed_dims, gp * 3)
        self.level_logits = nn.Linear(self.embed_dims, gp * self.num_levels)
        self.output_proj = nn.Linear(self.embed_dims, self.embed_dims)
        self.norm1 = nn.LayerNorm(self.embed_dims)
        ffn = ffn_dims or 2 * self.embed_dims
        self.ffn = nn.Sequential(nn.Linear(self.embed_dims, ffn), nn.ReLU(inplace=True),
                                 nn.Linear(ffn, self.embed_dims))
        self.norm2 = nn.LayerNorm(self.embed_dims)
        self._init_sampling()

    def _init_sampling(self):
        # Start with query-independent points spread over the offset box (the weight is small,
        # not zero, so the offsets still depend on the query and gradients reach it) and
        # equal level weights.
        nn.init.normal_(self.offsets.weight, std=1e-3)
        nn.init.uniform_(self.offsets.bias, -1.0, 1.0)
        nn.init.zeros_(self.level_logits.weight)
        nn.init.zeros_(self.level_logits.bias)

    def init_weights(self):
        super().init_weights()
        # A generic init_cfg (e.g. Xavier on all Linear layers) would undo the spread.
        self._init_sampling()

    def voxel_centres(self, device=None, dtype=torch.float32):
        """Centres of the query voxels, float [Q, 3] metres (current ego), q = (i Y + j) Z + k."""
        index = dense_coords(self.grid_shape, device).to(dtype)
        return voxel_centres(index, self.grid_min, self.voxel_size)

    def sample_points(self, queries, centres):
        """Sample points of every query: centre + bounded learned offsets.

        Args:
            queries (Tensor): float [B, Q, C].
            centres (Tensor): float [Q, 3] metres.

        Returns:
            Tensor: float [B, Q, G, P, 3] metres, current ego frame.
        """
        batch, num = queries.shape[:2]
        offsets = self.offsets(queries).view(batch, num, self.num_groups, self.num_points, 3)
        # tanh keeps every point within offset_range of its voxel centre, so a query never
        # drifts into a region that another query owns by far.
        offsets = offsets.tanh() * self.offset_range.to(offsets.dtype)
        return centres[None, :, None, None] + offsets

    def forward(self, volume, images):
        """
        Args:
            volume (Tensor): float [B, C_in, X, Y, Z], the explicit (LSS) volume on the query
                grid.
            images (MultiviewImages): this forward's image features: L = ``num_levels``
                levels of C = ``embed_dims`` channels in G = ``num_groups`` groups, T frames;
                with the current frame's LSS depth when ``use_depth_weight``.

        Returns:
            Tensor: float32 [B, C, X, Y, Z], the implicit volume.
        """
        batch = volume.shape[0]
        if tuple(volume.shape[2:]) != self.grid_shape:
            raise ValueError(f'ImplicitViewTransform: volume grid {tuple(volume.shape[2:])} '
                             f'is not grid_shape {self.grid_shape}')
        if (images.num_levels, images.channels, images.num_groups) != \
                (self.num_levels, self.embed_dims, self.num_groups):
            raise ValueError(f'ImplicitViewTransform: images of {images.num_levels} levels, '
                             f'{images.channels} channels in {images.num_groups} groups; '
                             f'expected {self.num_levels}, {self.embed_dims} and '
                             f'{self.num_groups}')
        if self.use_depth_weight and images.depth is None:
            raise ValueError('ImplicitViewTransform: use_depth_weight needs the LSS depth')
        frames = images.num_frames
        groups, points_per, levels = self.num_groups, self.num_points, self.num_levels

        # The sampling kernels take float32/float64 only (not AMP's float16).
        volume = volume.float()
        centres = self.voxel_centres(volume.device)
        extent = centres.new_tensor([n * s for n, s in zip(self.grid_shape, self.voxel_size)])
        # The MLP sees the centres as a fixed affine map of ego metres into [0, 1]^3, so its
        # inputs are O(1) whatever the grid's range.
        pos = self.pos_embed((centres - centres.new_tensor(self.grid_min)) / extent)
        queries = self.query_proj(volume.flatten(2).transpose(1, 2)) + pos[None]   # [B, Q, C]
        num_q = queries.shape[1]

        points = self.sample_points(queries, centres)                     # [B, Q, G, P, 3]
        level_w = self.level_logits(queries).view(batch, num_q, groups, points_per, levels)
        sampled, seen = images.with_conventions(eps=self.eps, **self.SAMPLING).sample(
            points, level_w.softmax(-1), depth_weighted=self.use_depth_weight,
            return_seen=True)                          # [B, Q, G, T P, C/G], [B, Q, G, T P]
        sampled = sampled.view(batch, num_q, groups, frames, points_per, -1)
        # Average over the frames that see each point (unseen frames read zero), then over
        # the points of the query.
        frames_seen = seen.view(batch, num_q, groups, frames, points_per).sum(3)
        frames_seen = frames_seen.clamp_min(1).to(sampled.dtype)[..., None]  # [B, Q, G, P, 1]
        sampled = (sampled.sum(3) / frames_seen).mean(3)                 # [B, Q, G, C/G]
        sampled = sampled.reshape(batch, num_q, self.embed_dims)

        out = self.norm1(queries + self.output_proj(sampled))
        out = self.norm2(out + self.ffn(out))
        return out.transpose(1, 2).reshape(batch, self.embed_dims, *self.grid_shape)
