"""Geometry-guided sparse voxel proposal (GSVP).

From a dense coarse volume and a geometric prior (the LSS depth probability mass that fell
into each voxel), GSVP scores every coarse voxel as non-empty and keeps the top-k; then,
level by level, every kept voxel splits into its 8 children (x2 resolution), the children are
re-scored and the top-k kept, up to the full grid. The prior may be given at any level's
resolution: the levels up to it read their own voxel's mass (sum-pooled), finer levels split
a parent's mass evenly among its children. A fine prior is what lets the children of one
voxel be told apart by geometry rather than by position alone; with an image ``sampler``,
every child also reads the image features at its centre (what the cameras see there: road,
facade, sky), so the depth evidence is paired with appearance at the child's own scale. Nothing
dense is built after the first level: the result is a sparse set of voxel coordinates with
features.

Grid frame: voxel (i, j, k) of a level of shape (X_l, Y_l, Z_l) covers the same metric box as
the full-grid voxels [2^s i, 2^s (i+1)) x ... with s = levels - 1 - l; coordinates are always
indices [x, y, z] of their own level (int64), the last level being ``grid_shape`` (Occ3D:
200 x 200 x 16, 0.4 m).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from mmdet3d.registry import MODELS

from ..decoders.sparse_voxel_decoder import voxel_centres

# The 8 children of voxel (i, j, k) at the next level are (2i + a, 2j + b, 2k + c).
_CHILD_OFFSETS = torch.tensor([[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)])


@MODELS.register_module()
class SparseVoxelProposal(BaseModule):
    """Coarse-to-fine top-k voxel proposal guided by a geometric prior.

    Args:
        in_channels (int): C_in of the coarse input volume.
        embed_dims (int): C of the proposal's (and the returned) voxel features.
        grid_shape (sequence of 3 ints): (X, Y, Z) of the last (finest) level, e.g.
            (200, 200, 16); each must be divisible by 2 ** (num_levels - 1).
        num_levels (int): number of levels; the coarse input has shape
            grid_shape / 2 ** (num_levels - 1) (e.g. 3 levels: 50 x 50 x 4 -> 200 x 200 x 16).
        topk_train (sequence of ints): voxels kept per sample at each level in training,
            coarse first; level l keeps at most 8x the previous level's k.
        topk_test (sequence of ints): the same at inference (``self.training`` is False).
        score_hidden_dims (int): hidden width of the scoring conv / MLPs.
        prior_eps (float): added to the prior mass before the log, so empty voxels
            (mass 0) get a finite, very negative log-prior instead of -inf.
        loss_occ (dict): config of the binary occupancy loss, called as
            ``loss(logits [N], target [N] float 0/1, weight=[N], avg_factor=float)``, e.g. ``dict(type=
            'mmdet.CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)``.
        use_prior (bool): feed the log-prior to the scorers; False is the no-geometry
            ablation (scores from the volume alone, ``prior`` may be None).
        sampler (dict, optional): image sampler config (the decoder's interface, e.g.
            ``dict(type='CompiledMultiviewSampler', num_cams=6)``); children of levels >= 1
            then add a projection of the image features sampled at their centre (all
            feature levels averaged). Needs ``grid_min``, ``voxel_size`` and ``image``
            inputs in ``forward``.
        grid_min (sequence of 3 floats, optional): metres of the grid's lowest corner
            (ego frame), for the sampler.
        voxel_size (float, optional): voxel edge of the last level in metres, for the
            sampler.
        surface_targets (bool): :meth:`targets` keeps only exposed surfaces (occupied
            voxels with a free face neighbour): what a ray can hit first. Interiors (a
            building's inside, the ground under a car) are negatives, so the top-k goes to
            the voxels RayIoU measures.
        target_dilation (int): :meth:`targets` keeps occupied voxels within this many
            voxels (Chebyshev distance) of an observed one. Occ3D's camera mask comes from a
            sparse set of camera rays and misses much of what the cameras see (distant
            ground between two rays, the far side of a thin object), so 0 would teach the
            proposal to drop true surfaces at random.
        init_cfg (dict, optional): mmengine initialisation config.
    """

    def __init__(self, in_channels, embed_dims, grid_shape, num_levels, topk_train, topk_test,
                 score_hidden_dims, prior_eps, loss_occ, use_prior=True, sampler=None,
                 grid_min=None, voxel_size=None, surface_targets=False, target_dilation=0,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.surface_targets = bool(surface_targets)
        self.target_dilation = int(target_dilation)
        if self.target_dilation < 0:
            raise ValueError(f'target_dilation must be >= 0, got {target_dilation}')
        self.grid_shape = tuple(int(s) for s in grid_shape)
        self.num_levels = int(num_levels)
        scale = 2 ** (self.num_levels - 1)
        if len(self.grid_shape) != 3 or any(s % scale for s in self.grid_shape):
            raise ValueError(f'grid_shape {self.grid_shape} must be 3 sizes divisible by '
                             f'2 ** (num_levels - 1) = {scale}')
        self.level_shapes = [tuple(s // 2 ** (self.num_levels - 1 - l) for s in self.grid_shape)
                             for l in range(self.num_levels)]
        self.topk_train = self._check_topk(topk_train, 'topk_train')
        self.topk_test = self._check_topk(topk_test, 'topk_test')
        self.embed_dims = embed_dims
        self.prior_eps = prior_eps
        self.use_prior = bool(use_prior)
        prior_dims = 1 if self.use_prior else 0

        self.input_proj = nn.Conv3d(in_channels, embed_dims, kernel_size=1)
        # Level 0 is dense: a 3x3x3 conv sees each voxel's neighbourhood and its log-prior.
        self.coarse_scorer = nn.Sequential(
            nn.Conv3d(embed_dims + prior_dims, score_hidden_dims, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv3d(score_hidden_dims, 1, kernel_size=1))
        # Finer levels are sparse: children inherit the parent feature plus a learned
        # embedding of their position inside the parent and an encoding of their position
        # in the grid (height above all: nothing is ever below the ground, and a parent's
        # feature alone only tells its children apart by the 8 embeddings), and an MLP
        # re-scores them.
        self.child_embeds = nn.ModuleList(
            nn.Embedding(8, embed_dims) for _ in range(self.num_levels - 1))
        self.child_positions = nn.ModuleList(
            nn.Sequential(nn.Linear(3, embed_dims), nn.ReLU(inplace=True),
                          nn.Linear(embed_dims, embed_dims))
            for _ in range(self.num_levels - 1))
        self.child_scorers = nn.ModuleList(
            nn.Sequential(nn.Linear(embed_dims + prior_dims, score_hidden_dims),
                          nn.ReLU(inplace=True),
                          nn.Linear(score_hidden_dims, 1))
            for _ in range(self.num_levels - 1))
        self.loss_occ = MODELS.build(loss_occ)
        self.sampler = None
        if sampler is not None:
            if grid_min is None or voxel_size is None:
                raise ValueError('SparseVoxelProposal: a sampler needs grid_min and voxel_size')
            self.sampler = MODELS.build(sampler)
            self.grid_min = tuple(float(v) for v in grid_min)
            self.voxel_size = float(voxel_size)
            self.image_projs = nn.ModuleList(
                nn.Linear(embed_dims, embed_dims) for _ in range(self.num_levels - 1))

    def _check_topk(self, topk, name):
        topk = [int(k) for k in topk]
        if len(topk) != self.num_levels:
            raise ValueError(f'{name} needs one k per level ({self.num_levels}), got {topk}')
        if not 0 < topk[0] <= math.prod(self.level_shapes[0]):
            raise ValueError(f'{name}[0] = {topk[0]} must be in (0, {math.prod(self.level_shapes[0])}]')
        for l in range(1, self.num_levels):
            if not 0 < topk[l] <= 8 * topk[l - 1]:
                raise ValueError(f'{name}[{l}] = {topk[l]} must be in (0, 8 * {name}[{l - 1}]]')
        return topk

    def forward(self, volume, prior, image=None):
        """Scores, keeps and refines voxels from coarse to fine.

        Args:
            volume (Tensor): float [B, C_in, X_0, Y_0, Z_0], the coarse fused volume
                (``level_shapes[0]``), indexed [x, y, z] like the Occ3D grid.
            prior (Tensor or None): float [B, 1, X_p, Y_p, Z_p] >= 0, the depth probability
                mass per voxel (geometric prior) at the resolution of one of the levels
                (``level_shapes[p]``; the last level's is the most informative); ignored
                (may be None) when ``use_prior`` is False.
            image (dict, optional): for the ``sampler``: ``mlvl_feats`` (L levels float
                [B, V, C, H_l, W_l]), ``ego2img`` float [B, V, 4, 4] (current ego metres ->
                augmented pixels) and ``img_shape`` (H, W).

        Returns:
            dict:
            - ``coords``: int64 [B, K, 3], kept voxel indices (x, y, z) of the last level
              (K = the last level's k for the current mode); unique per sample.
            - ``feats``: float [B, K, C] their features.
            - ``scores``: float [B, K], their occupancy logits.
            - ``levels``: list over levels of dicts with ``coords`` int64 [B, M_l, 3] (level
              indices) and ``logits`` float [B, M_l] of every voxel scored at that level
              (M_0 = X_0 Y_0 Z_0; M_l = 8 k_{l-1}), for :meth:`loss`.
        """
        if volume.dim() != 5 or tuple(volume.shape[2:]) != self.level_shapes[0]:
            raise ValueError(f'SparseVoxelProposal: volume must be [B, C, '
                             f'{", ".join(map(str, self.level_shapes[0]))}], got '
                             f'{tuple(volume.shape)}')
        if self.sampler is not None and image is None:
            raise ValueError('SparseVoxelProposal: configured with a sampler, needs image')
        topk = self.topk_train if self.training else self.topk_test
        batch = volume.shape[0]
        feats = self.input_proj(volume)
        log_priors = self._level_log_priors(prior, batch) if self.use_prior else []
        # Without a prior a zero log-prior is carried along, never shown to a scorer.
        log_prior = log_priors[0] if log_priors else volume.new_zeros(batch, 1,
                                                                      *volume.shape[2:])
        logits = self.coarse_scorer(self._with_prior(feats, log_prior, 1)).flatten(1)  # [B, M_0]
        coords = self._dense_coords(self.level_shapes[0], volume.device).expand(batch, -1, -1)
        feats = feats.flatten(2).transpose(1, 2)                                   # [B, M_0, C]
        log_prior = log_prior.flatten(1)                                           # [B, M_0]
        levels = [dict(coords=coords, logits=logits)]
        coords, feats, log_prior, logits = self._keep(topk[0], coords, feats, log_prior, logits)

        offsets = _CHILD_OFFSETS.to(volume.device)
        for l in range(1, self.num_levels):
            num = coords.shape[1]
            coords = (coords[:, :, None] * 2 + offsets).reshape(batch, num * 8, 3)
            feats = (feats[:, :, None] + self.child_embeds[l - 1].weight).reshape(
                batch, num * 8, -1)
            shape = coords.new_tensor(self.level_shapes[l], dtype=torch.float32)
            feats = feats + self.child_positions[l - 1]((coords.float() + 0.5) / shape)
            if self.sampler is not None:
                feats = feats + self.image_projs[l - 1](self._sample_image(coords, l, image))
            if l < len(log_priors):
                log_prior = self._gather(log_priors[l], coords)
            else:  # finer than the prior: a child gets an eighth of its parent's mass
                log_prior = (log_prior[:, :, None] - math.log(8.0)).expand(-1, -1, 8).reshape(
                    batch, num * 8)
            logits = self.child_scorers[l - 1](
                self._with_prior(feats, log_prior[..., None], -1)).squeeze(-1)
            levels.append(dict(coords=coords, logits=logits))
            coords, feats, log_prior, logits = self._keep(topk[l], coords, feats, log_prior,
                                                          logits)
        return dict(coords=coords, feats=feats, scores=logits, levels=levels)

    def _sample_image(self, coords, level, image):
        """Image features float [B, M, C] at the centres of level-``level`` voxels
        (coords int64 [B, M, 3]), every feature level weighted equally."""
        centres = voxel_centres(coords, self.grid_min,
                                self.voxel_size * 2 ** (self.num_levels - 1 - level))
        num_feat_levels = len(image['mlvl_feats'])
        weights = centres.new_full((*centres.shape[:2], 1, num_feat_levels),
                                   1.0 / num_feat_levels)
        return self.sampler(image['mlvl_feats'], centres[:, :, None], image['ego2img'],
                            image['img_shape'], weights)[:, :, 0]

    def _level_log_priors(self, prior, batch):
        """Dense log-priors float [B, 1, X_l, Y_l, Z_l] of levels 0..p for a prior given at
        level p (sum-pooled to the coarser levels)."""
        shape = None if prior is None else tuple(prior.shape[2:])
        if prior is None or prior.dim() != 5 or prior.shape[:2] != (batch, 1) or \
                shape not in self.level_shapes:
            raise ValueError(f'SparseVoxelProposal: prior must be [B={batch}, 1, X, Y, Z] at '
                             f'one of the level shapes {self.level_shapes}, got '
                             f'{None if prior is None else tuple(prior.shape)}')
        finest = self.level_shapes.index(shape)
        prior = prior.clamp_min(0)
        log_priors = []
        for l in range(finest + 1):
            factor = 2 ** (finest - l)
            mass = F.avg_pool3d(prior, factor) * factor ** 3 if factor > 1 else prior
            log_priors.append(torch.log(mass + self.prior_eps))
        return log_priors

    @staticmethod
    def _gather(dense, coords):
        """Values of a dense [B, 1, X, Y, Z] map at int64 coords [B, M, 3] -> [B, M]."""
        _, _, _, sy, sz = dense.shape
        flat = (coords[..., 0] * sy + coords[..., 1]) * sz + coords[..., 2]
        return dense.flatten(1).gather(1, flat)

    def _with_prior(self, feats, log_prior, dim):
        """The scorer input: features, plus the log-prior channel when ``use_prior``."""
        return torch.cat([feats, log_prior], dim) if self.use_prior else feats

    @staticmethod
    def _dense_coords(shape, device):
        """int64 [1, X * Y * Z, 3] indices of a dense grid in flatten (x-major) order."""
        axes = [torch.arange(s, device=device) for s in shape]
        return torch.stack(torch.meshgrid(*axes, indexing='ij'), -1).reshape(1, -1, 3)

    @staticmethod
    def _keep(k, coords, feats, log_prior, logits):
        """Top-k by logit per sample; selection is not differentiable, the kept features
        and logits are (gathered)."""
        index = logits.topk(k, dim=1, sorted=False).indices                      # [B, k]
        gather = lambda t: t.gather(1, index.view(*index.shape, *[1] * (t.dim() - 2)).expand(
            -1, -1, *t.shape[2:]))
        return gather(coords), gather(feats), gather(log_prior), gather(logits)

    def observed_region(self, observed):
        """bool [B, X, Y, Z]: voxels within ``target_dilation`` (Chebyshev) of an observed
        voxel (``observed`` bool/0-1 [B, X, Y, Z])."""
        observed = observed.bool()
        if self.target_dilation == 0:
            return observed
        size = 2 * self.target_dilation + 1
        return F.max_pool3d(observed.float()[:, None], size, stride=1,
                            padding=self.target_dilation)[:, 0] > 0

    def targets(self, gt_occupied, region=None):
        """The voxels the proposal should keep.

        Args:
            gt_occupied (Tensor): bool/0-1 [B, X, Y, Z] at ``grid_shape``, True where the
                voxel is not free.
            region (Tensor, optional): bool [B, X, Y, Z], the voxels near observed ones
                (:meth:`observed_region` of e.g. Occ3D's camera mask); None = everywhere.

        Returns:
            Tensor: bool [B, X, Y, Z]: occupied voxels inside ``region`` (exposed surfaces
            only with ``surface_targets``; voxels beyond the grid count as free).
        """
        occupied = gt_occupied.bool()
        if self.surface_targets:
            # Face neighbours only: a ray advancing one axis at a time enters a voxel
            # through a face.
            free = F.pad((~occupied).float(), (1, 1, 1, 1, 1, 1), value=1.0) > 0
            exposed = (free[:, :-2, 1:-1, 1:-1] | free[:, 2:, 1:-1, 1:-1]
                       | free[:, 1:-1, :-2, 1:-1] | free[:, 1:-1, 2:, 1:-1]
                       | free[:, 1:-1, 1:-1, :-2] | free[:, 1:-1, 1:-1, 2:])
            occupied = occupied & exposed
        return occupied if region is None else occupied & region

    def loss(self, levels, gt_occupied, valid=None):
        """Binary occupancy loss on every scored voxel of every level.

        Args:
            levels (list of dict): ``forward(...)['levels']``.
            gt_occupied (Tensor): bool/0-1 [B, X, Y, Z] at ``grid_shape``, True where the
                voxel is not free.
            valid (Tensor, optional): bool/0-1 [B, X, Y, Z], True where the ground truth is
                known (e.g. Occ3D's camera mask); other voxels are left out. None = all.

        A coarse voxel is occupied when any valid fine voxel it covers is occupied, and
        valid when any of them is valid (max-pooling).

        Returns:
            dict: ``loss_proposal_l{l}`` scalar per level.
        """
        if tuple(gt_occupied.shape[1:]) != self.grid_shape:
            raise ValueError(f'gt_occupied must be [B, {self.grid_shape}], got '
                             f'{tuple(gt_occupied.shape)}')
        if valid is None:
            valid = torch.ones_like(gt_occupied, dtype=torch.bool)
        elif valid.shape != gt_occupied.shape:
            raise ValueError(f'valid must be shaped like gt_occupied {tuple(gt_occupied.shape)}, '
                             f'got {tuple(valid.shape)}')
        valid = valid.bool()
        gt = (gt_occupied.bool() & valid).float()[:, None]
        valid = valid.float()[:, None]
        losses = {}
        for l, level in enumerate(levels):
            factor = 2 ** (self.num_levels - 1 - l)
            gt_level = F.max_pool3d(gt, factor) if factor > 1 else gt
            valid_level = F.max_pool3d(valid, factor) if factor > 1 else valid
            target = self._gather(gt_level, level['coords']).reshape(-1)
            weight = self._gather(valid_level, level['coords']).reshape(-1)
            losses[f'loss_proposal_l{l}'] = self.loss_occ(
                level['logits'].reshape(-1), target, weight=weight,
                avg_factor=weight.sum().clamp_min(1.0))
        return losses
