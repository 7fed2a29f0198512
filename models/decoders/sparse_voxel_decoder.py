"""Coarse-to-fine sparse voxel decoder with geometry-guided sparse voxel proposal (GSVP).

Follows SparseOcc's ``SparseVoxelDecoder`` stage by stage; GD-OCC's geometry enters at three
places. Stage s works on the voxels kept at resolution ``grid_shape / 2 ** (S - s)`` (S =
``num_stages``; the paper: 25 x 25 x 2, 50 x 50 x 4, 100 x 100 x 8) and:

1. refines their features (:class:`_StageLayer`): position encoding of the voxel box,
   self-attention with a distance bias (stages in ``self_attn_stages``), sampling of every
   camera of every frame at learned offsets around the voxel, AdaptiveMixing of those
   samples across points and frames, FFN. Samples of the current frame are weighted by the
   predicted depth probability at their depth (``use_depth_weight``; the current frame is
   the only one whose depth is predicted, see :mod:`models.layers.depth_weighted_sampling`);
2. lifts every voxel to its 8 children at twice the resolution (a linear layer C -> 8C, one
   C-vector per child);
3. scores the children with an 18-way semantic classifier (17 classes + free) and keeps the
   top-k by the GSVP score: the predicted occupancy ``1 - p(free)`` combined with the
   geometric prior, the LSS depth probability mass that fell into the child voxel
   (``log(1 - p_free) + prior_weight * log(mass + prior_eps)``; ``use_prior=False`` ranks by
   occupancy alone, SparseOcc's rule).

Stage 0 starts from the fused GVT volume on the coarse grid (``init_from_volume``; False
gives SparseOcc's zero queries). The kept children of the last stage (full grid) and their
features are the decoder's output. As in SparseOcc, the features handed from one stage to
the next are detached: each stage learns from its own losses (and the last one from the
head's); the images and the GVT volume receive the gradients of every stage.

Every stage is supervised on the voxels it kept (:meth:`SparseVoxelDecoder.loss`): a kept
voxel of stage resolution covers ``f^3`` full-grid voxels (f = 2 ** (S - 1 - s)), and its
prediction is compared with each of their labels, SparseOcc's nearest upsampling, computed
exactly from per-voxel label counts rather than by materialising the upsampled grid.

Grid frame: coordinates are int64 [x, y, z] indices of their stage's grid; voxel (i, j, k)
of a grid with edge e metres has its centre at ``grid_min + (index + 0.5) e`` (ego frame).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from mmdet3d.registry import MODELS

from core.geometry import dense_coords, voxel_centres
from core.occ3d import FREE_LABEL, GRID_MIN, GRID_SHAPE, VOXEL_SIZE

from ..layers import AdaptiveMixing, DistanceBiasedSelfAttention, VoxelSampling

# The 8 children of voxel (i, j, k) at the next resolution are (2i + a, 2j + b, 2k + c), in
# the order the lift lays out its 8 C-vectors: SparseOcc's (the corner, then +x, +y, +z, +xy,
# +xz, +yz, +xyz; its checkpoints' lift weights are in this order) or x-major.
CHILD_OFFSETS = dict(
    sparseocc=torch.tensor([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, 0, 1],
                            [0, 1, 1], [1, 1, 1]]),
    xyz=torch.tensor([[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)]))



def gather_dense(dense, coords):
    """Values of a dense [B, C, X, Y, Z] map at int64 coords [B, K, 3] -> [B, K, C]."""
    _, channels, _, size_y, size_z = dense.shape
    flat = (coords[..., 0] * size_y + coords[..., 1]) * size_z + coords[..., 2]
    return dense.flatten(2).gather(2, flat[:, None].expand(-1, channels, -1)).transpose(1, 2)


class _StageLayer(nn.Module):
    """SparseOcc's ``SparseVoxelDecoderLayer``: position encoding, optional distance-biased
    self-attention, multi-frame sampling + AdaptiveMixing, FFN (post-norm residuals)."""

    def __init__(self, embed_dims, num_frames, num_groups, num_points, num_levels, self_attn,
                 num_heads, ffn_dims, dropout, attn_chunk_size, attn_output_dropout,
                 attn_xavier_init):
        super().__init__()
        self.pos_encoder = nn.Sequential(
            nn.Linear(3, embed_dims), nn.LayerNorm(embed_dims), nn.ReLU(inplace=True),
            nn.Linear(embed_dims, embed_dims), nn.LayerNorm(embed_dims), nn.ReLU(inplace=True))
        self.self_attn = DistanceBiasedSelfAttention(
            embed_dims, num_heads, dropout, output_dropout=attn_output_dropout,
            chunk_size=attn_chunk_size, xavier_init=attn_xavier_init) if self_attn else None
        self.norm_attn = nn.LayerNorm(embed_dims) if self_attn else None
        self.sampling = VoxelSampling(embed_dims, num_groups, num_points, num_levels)
        points = num_points * num_frames
        self.mixing = AdaptiveMixing(embed_dims, points, num_groups, points * num_groups)
        self.norm_mix = nn.LayerNorm(embed_dims)
        self.ffn = nn.Sequential(nn.Linear(embed_dims, ffn_dims), nn.ReLU(inplace=True),
                                 nn.Dropout(dropout), nn.Linear(ffn_dims, embed_dims),
                                 nn.Dropout(dropout))
        self.norm_ffn = nn.LayerNorm(embed_dims)

    def forward(self, feats, coords, centres, unit_anchors, box_size, images, depth_weighted):
        x = feats + self.pos_encoder(unit_anchors)
        if self.self_attn is not None:
            x = self.norm_attn(self.self_attn(x, centres, coords))
        sampled = self.sampling(x, centres, box_size, images, depth_weighted)
        x = self.norm_mix(self.mixing(sampled, x))
        return self.norm_ffn(x + self.ffn(x))


@MODELS.register_module()
class SparseVoxelDecoder(BaseModule):
    """Coarse-to-fine sparse voxel decoder with GSVP (see the module docstring).

    Defaults are the paper setting (SparseOcc R50 704 x 256, 8 frames).

    Args:
        embed_dims (int): C of the voxel features (and of the GVT volume and image features).
        num_classes (int): non-free classes; the classifiers output ``num_classes + 1``
            logits, the last one free.
        grid_shape (sequence of 3 ints): (X, Y, Z) of the full grid; divisible by
            ``2 ** num_stages``.
        grid_min (sequence of 3 floats): metres of the grid's lowest corner (ego frame).
        voxel_size (float): full-grid voxel edge, metres.
        num_stages (int): S; stage 0 runs on ``grid_shape / 2 ** S``.
        topk_train (sequence of S ints): children kept by each stage in training.
        topk_test (sequence of S ints): the same at inference.
        num_frames (int): T, frames sampled (the AdaptiveMixing sizes depend on it).
        num_groups (int): G, channel groups of the sampling.
        num_points (int): points per group at stage 0; stage s uses ``num_points // 2 ** s``
            (at least 1), as SparseOcc.
        num_levels (int): L, image feature levels.
        self_attn_stages (sequence of int): stages with self-attention.
        num_heads (int): self-attention heads.
        ffn_dims (int): FFN hidden width.
        dropout (float): attention-weight and FFN dropout.
        attn_chunk_size (int): largest voxel set attended densely (see
            :class:`DistanceBiasedSelfAttention`).
        attn_output_dropout (bool): also drop the attention output (SparseOcc does not).
        attn_xavier_init (bool): xavier-initialise the attention's q, k, v projection
            (SparseOcc's ``nn.MultiheadAttention``).
        voxel_anchor (str): the point of a voxel its position encoding sees, normalised to
            the grid's extent: ``'corner'`` (its lowest corner, SparseOcc's encoded box) or
            ``'centre'``. Sample points and attention distances use the centre either way.
        child_order (str): the order of the lift's 8 children, ``'sparseocc'`` or ``'xyz'``
            (see ``CHILD_OFFSETS``).
        refine (bool): run the stage layers; False lifts the (position-encoded) voxels
            without looking at the images between stages (the no-refinement ablation).
        init_from_volume (bool): stage 0 starts from the GVT volume; False from zeros.
        use_depth_weight (bool): depth-weight the current frame's samples (needs the LSS
            depth in the images).
        use_prior (bool): GSVP: combine the occupancy with the geometric prior in the
            pruning score; False ranks by occupancy alone.
        prior_weight (float): weight of the log-prior in the pruning score.
        prior_eps (float): added to the prior mass before the log (empty voxels get a finite
            score).
        ignore_label (int): ground-truth label of voxels whose class is unknown (e.g. the
            corners that a BEV rotation brings in, SparseOcc's 255): the cross-entropy and
            the affinity losses leave them out; the Lovasz loss counts them as background of
            every class (SparseOcc's ``lovasz_softmax`` is called without ``ignore``).
        loss_ce (dict): per-stage cross-entropy (:class:`CountCrossEntropyLoss`).
        loss_lovasz (dict or None): per-stage Lovasz-softmax.
        loss_geo_scal (dict or None): per-stage geometric scene-class affinity.
        loss_sem_scal (dict or None): per-stage semantic scene-class affinity.
        init_cfg (dict, optional): mmengine initialisation config.
    """

    def __init__(self, embed_dims=256, num_classes=FREE_LABEL, grid_shape=GRID_SHAPE,
                 grid_min=GRID_MIN, voxel_size=VOXEL_SIZE, num_stages=3,
                 topk_train=(4000, 16000, 64000), topk_test=(2000, 8000, 32000),
                 num_frames=8, num_groups=4, num_points=4, num_levels=4,
                 self_attn_stages=(0, 1), num_heads=8, ffn_dims=512, dropout=0.1,
                 attn_chunk_size=4096, attn_output_dropout=False, attn_xavier_init=True,
                 voxel_anchor='corner', child_order='sparseocc', refine=True,
                 init_from_volume=True,
                 use_depth_weight=True, use_prior=True, prior_weight=1.0, prior_eps=1e-4,
                 ignore_label=255,
                 loss_ce=dict(type='CountCrossEntropyLoss', loss_weight=1.0),
                 loss_lovasz=dict(type='LovaszSoftmaxLoss', loss_weight=1.0),
                 loss_geo_scal=dict(type='GeoScalLoss', loss_weight=1.0),
                 loss_sem_scal=dict(type='SemScalLoss', loss_weight=1.0), init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.embed_dims, self.num_classes = int(embed_dims), int(num_classes)
        self.free_label = self.num_classes
        self.grid_shape = tuple(int(s) for s in grid_shape)
        self.grid_min = tuple(float(v) for v in grid_min)
        self.voxel_size = float(voxel_size)
        self.num_stages = int(num_stages)
        scale = 2 ** self.num_stages
        if len(self.grid_shape) != 3 or any(s % scale for s in self.grid_shape):
            raise ValueError(f'SparseVoxelDecoder: grid_shape {self.grid_shape} must be 3 '
                             f'sizes divisible by 2 ** num_stages = {scale}')
        # Resolution s = 0..S: shapes and voxel edges; stage s runs on s, outputs s + 1.
        self.shapes = [tuple(n // 2 ** (self.num_stages - s) for n in self.grid_shape)
                       for s in range(self.num_stages + 1)]
        self.coarse_shape = self.shapes[0]
        self.topk_train = self._check_topk(topk_train, 'topk_train')
        self.topk_test = self._check_topk(topk_test, 'topk_test')
        self.num_groups = int(num_groups)
        if voxel_anchor not in ('corner', 'centre'):
            raise ValueError(f'SparseVoxelDecoder: voxel_anchor must be \'corner\' or '
                             f'\'centre\', got {voxel_anchor!r}')
        if child_order not in CHILD_OFFSETS:
            raise ValueError(f'SparseVoxelDecoder: child_order must be one of '
                             f'{sorted(CHILD_OFFSETS)}, got {child_order!r}')
        self.voxel_anchor, self.child_order = voxel_anchor, child_order
        self.refine, self.init_from_volume = bool(refine), bool(init_from_volume)
        self.use_depth_weight, self.use_prior = bool(use_depth_weight), bool(use_prior)
        self.prior_weight, self.prior_eps = float(prior_weight), float(prior_eps)
        self.ignore_label = int(ignore_label)
        self.layers = nn.ModuleList(
            _StageLayer(embed_dims, num_frames, num_groups, max(num_points // 2 ** s, 1),
                        num_levels, s in self_attn_stages, num_heads, ffn_dims, dropout,
                        attn_chunk_size, attn_output_dropout, attn_xavier_init)
            if self.refine else
            nn.Sequential(nn.Linear(3, embed_dims), nn.ReLU(inplace=True),
                          nn.Linear(embed_dims, embed_dims))
            for s in range(self.num_stages))
        self.lifts = nn.ModuleList(
            nn.Sequential(nn.Linear(embed_dims, 8 * embed_dims), nn.ReLU(inplace=True))
            for _ in range(self.num_stages))
        self.classifiers = nn.ModuleList(nn.Linear(embed_dims, self.num_classes + 1)
                                         for _ in range(self.num_stages))
        self.loss_ce = MODELS.build(loss_ce)
        self.loss_lovasz = None if loss_lovasz is None else MODELS.build(loss_lovasz)
        # The affinity losses need the free label, which is the decoder's to know.
        self.loss_geo_scal, self.loss_sem_scal = (
            None if cfg is None else MODELS.build(dict(cfg, free_label=self.free_label))
            for cfg in (loss_geo_scal, loss_sem_scal))

    def _check_topk(self, topk, name):
        topk = [int(k) for k in topk]
        if len(topk) != self.num_stages:
            raise ValueError(f'SparseVoxelDecoder: {name} needs one k per stage '
                             f'({self.num_stages}), got {topk}')
        previous = math.prod(self.coarse_shape)
        for s, k in enumerate(topk):
            if not 0 < k <= 8 * previous:
                raise ValueError(f'SparseVoxelDecoder: {name}[{s}] = {k} must be in '
                                 f'(0, {8 * previous}] (8 children per voxel kept before)')
            previous = k
        return topk

    def edge(self, resolution):
        """Voxel edge in metres at resolution ``resolution`` (0 = coarse, S = full)."""
        return self.voxel_size * 2 ** (self.num_stages - resolution)

    def forward(self, volume, images, prior=None):
        """
        Args:
            volume (Tensor or None): float [B, C, X_0, Y_0, Z_0], the fused GVT volume on the
                coarse grid (``coarse_shape``); unused (may be None) without
                ``init_from_volume``.
            images (MultiviewImages): this forward's image features (with the LSS depth when
                ``use_depth_weight``).
            prior (Tensor, optional): float [B, 1, X, Y, Z] >= 0 on the full grid, the depth
                probability mass per voxel; needed when ``use_prior``.

        Returns:
            dict: ``coords`` int64 [B, K, 3] kept full-grid voxels (unique per sample; K =
            the last stage's k), ``feats`` float [B, K, C] their features, and ``stages``: per
            stage a dict with ``coords`` int64 [B, k_s, 3] (indices at resolution s + 1),
            ``logits`` float [B, k_s, num_classes + 1] of the kept children and ``scale``
            (int, full-grid voxels per kept voxel along each axis), for :meth:`loss`.
        """
        batch, device = images.batch, images.ego2img.device
        if self.init_from_volume and (volume is None or volume.dim() != 5 or
                                      tuple(volume.shape[2:]) != self.coarse_shape):
            raise ValueError(f'SparseVoxelDecoder: volume must be [B, C, '
                             f'{", ".join(map(str, self.coarse_shape))}], got '
                             f'{None if volume is None else tuple(volume.shape)}')
        if self.use_prior and (prior is None or tuple(prior.shape) !=
                               (batch, 1, *self.grid_shape)):
            raise ValueError(f'SparseVoxelDecoder: use_prior needs a prior [B={batch}, 1, '
                             f'{", ".join(map(str, self.grid_shape))}], got '
                             f'{None if prior is None else tuple(prior.shape)}')
        topk = self.topk_train if self.training else self.topk_test
        coords = dense_coords(self.coarse_shape, device).expand(batch, -1, -1)
        if self.init_from_volume:
            feats = volume.flatten(2).transpose(1, 2)
        else:
            feats = images.ego2img.new_zeros(batch, coords.shape[1], self.embed_dims)
        offsets = CHILD_OFFSETS[self.child_order].to(device)
        stages = []
        for s in range(self.num_stages):
            feats = self._refine(s, feats, coords, images)
            num = coords.shape[1]
            children = (coords[:, :, None] * 2 + offsets).reshape(batch, num * 8, 3)
            child_feats = self.lifts[s](feats).view(batch, num * 8, self.embed_dims)
            logits = self.classifiers[s](child_feats)
            scale = 2 ** (self.num_stages - 1 - s)
            keep = self._keep(topk[s], logits, children, prior, scale)
            coords = children.gather(1, keep[..., None].expand(-1, -1, 3))
            feats = child_feats.gather(1, keep[..., None].expand(-1, -1, self.embed_dims))
            logits = logits.gather(1, keep[..., None].expand(-1, -1, logits.shape[-1]))
            stages.append(dict(coords=coords, logits=logits, scale=scale))
            if s < self.num_stages - 1:
                feats = feats.detach()
        return dict(coords=coords, feats=feats, stages=stages)

    def _refine(self, stage, feats, coords, images):
        """Stage ``stage``'s refined features float [B, M, C] of voxels coords [B, M, 3]."""
        shape = coords.new_tensor(self.shapes[stage], dtype=torch.float32)
        unit_anchors = (coords.float() + (0.5 if self.voxel_anchor == 'centre' else 0)) / shape
        if not self.refine:
            return feats + self.layers[stage](unit_anchors)
        edge = self.edge(stage)
        centres = voxel_centres(coords, self.grid_min, edge)
        return self.layers[stage](feats, coords, centres, unit_anchors, edge, images,
                                  self.use_depth_weight)

    @torch.no_grad()
    def _keep(self, k, logits, children, prior, scale):
        """int64 [B, k]: the top-k children by the GSVP score (see the module docstring)."""
        occupancy = 1 - logits.float().softmax(-1)[..., self.free_label]
        score = occupancy
        if self.use_prior:
            mass = F.avg_pool3d(prior, scale) * scale ** 3 if scale > 1 else prior
            mass = gather_dense(mass.clamp_min(0), children)[..., 0]
            score = occupancy.clamp_min(1e-6).log() + \
                self.prior_weight * (mass + self.prior_eps).log()
        # Sorted by score, as SparseOcc: the head draws mask voxels by rank in this order.
        return score.topk(k, dim=1).indices

    def label_counts(self, gt_sem, coords, scale, valid=None):
        """Full-grid labels covered by voxels of a coarser resolution.

        Args:
            gt_sem (Tensor): int [B, X, Y, Z] full-grid labels in [0, num_classes].
            coords (Tensor): int64 [B, K, 3] voxel indices at resolution ``grid / scale``.
            scale (int): full-grid voxels per voxel along each axis.
            valid (Tensor, optional): bool [B, X, Y, Z]; only these full-grid voxels count.

        Returns:
            Tensor: float32 [B, K, num_classes + 1], how many covered voxels carry each label.
        """
        batch = gt_sem.shape[0]
        num_labels = self.num_classes + 1
        if scale == 1:
            index = (torch.arange(batch, device=coords.device)[:, None], coords[..., 0],
                     coords[..., 1], coords[..., 2])
            counts = F.one_hot(gt_sem[index].long(), num_labels).float()
            return counts if valid is None else counts * valid[index][..., None].float()
        coarse = [n // scale for n in self.grid_shape]
        # Each full-grid voxel's coarse voxel (flat index), then one bincount of
        # (coarse voxel, label) pairs: no one-hot grid of the 18 labels is built.
        axes = [torch.arange(n, device=gt_sem.device) // scale for n in self.grid_shape]
        parent = ((axes[0][:, None, None] * coarse[1] + axes[1][None, :, None]) * coarse[2]
                  + axes[2][None, None]).flatten()
        keys = parent * num_labels + gt_sem.long().flatten(1)                # [B, X Y Z]
        size = coarse[0] * coarse[1] * coarse[2] * num_labels
        flat = (coords[..., 0] * coarse[1] + coords[..., 1]) * coarse[2] + coords[..., 2]
        counts = []
        for b in range(batch):
            weights = None if valid is None else valid[b].flatten().float()
            dense = torch.bincount(keys[b], weights, minlength=size).view(-1, num_labels)
            counts.append(dense[flat[b]].float())
        return torch.stack(counts)

    def loss(self, stages, gt_sem, valid=None):
        """SparseOcc's per-stage semantic losses on the kept voxels.

        Args:
            stages (list of dict): ``forward(...)['stages']``.
            gt_sem (Tensor): uint8/int [B, X, Y, Z] Occ3D labels (``num_classes`` = free,
                ``ignore_label`` = unknown).
            valid (Tensor, optional): bool [B, X, Y, Z], voxels whose label counts (e.g. the
                camera mask); None = all (SparseOcc's default).

        Returns:
            dict: ``loss_ce_s{s}``, ``loss_lovasz_s{s}``, ``loss_geo_scal_s{s}``,
            ``loss_sem_scal_s{s}`` per stage (the configured ones), averaged over samples.
        """
        if tuple(gt_sem.shape[1:]) != self.grid_shape:
            raise ValueError(f'SparseVoxelDecoder: gt_sem must be [B, {self.grid_shape}], got '
                             f'{tuple(gt_sem.shape)}')
        labelled = gt_sem != self.ignore_label
        known, unknown = valid, None
        if not bool(labelled.all()):
            # Any label serves for the unknown voxels, whose counts are masked out.
            gt_sem = gt_sem.masked_fill(~labelled, self.free_label)
            known = labelled if valid is None else valid & labelled
            unknown = ~labelled if valid is None else valid & ~labelled
        losses = {}
        named = [('ce', self.loss_ce), ('lovasz', self.loss_lovasz),
                 ('geo_scal', self.loss_geo_scal), ('sem_scal', self.loss_sem_scal)]
        for s, stage in enumerate(stages):
            counts = self.label_counts(gt_sem, stage['coords'], stage['scale'], known)
            background = None if unknown is None else \
                self.label_counts(gt_sem, stage['coords'], stage['scale'], unknown).sum(-1)
            logits = stage['logits'].float()
            probs = logits.softmax(-1)
            for name, loss in named:
                if loss is None:
                    continue
                # Cross-entropy takes logits, the others probabilities; Lovasz also the
                # unknown voxels, background of every class.
                inputs = logits if name == 'ce' else probs
                extra = [background] if name == 'lovasz' and background is not None else []
                per_sample = [loss(inputs[b], counts[b], *(e[b] for e in extra))
                              for b in range(len(logits))]
                losses[f'loss_{name}_s{s}'] = torch.stack(per_sample).mean()
        return losses
