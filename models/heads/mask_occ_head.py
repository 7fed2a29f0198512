"""Mask-transformer occupancy head over sparse voxels (SparseOcc's ``MaskFormerOccDecoder``).

N learnable queries predict class logits (sigmoid, ``num_classes`` non-free classes, no
free logit) and a mask over the K kept voxels (dot product of a projected query and the voxel
features). A prediction is made from the initial queries, then ``num_layers`` times the
queries are refined by one shared layer (SparseOcc shares it, as SparseBEV shares its
decoder layer) and predict again; every prediction is supervised (deep supervision).

The layer: query self-attention; **mask-guided sparse sampling**: each query draws G x P
points from the voxels of its current mask (mask logit > 0; a query with an empty mask draws
from all kept voxels), moves them by learned offsets (voxel units, zero at init) and samples
every camera of every frame there; AdaptiveMixing of the samples; FFN; new class and mask
predictions. Training draws the points at random (SparseOcc); inference takes evenly spaced
ranks among the mask's voxels, so predictions are reproducible.

Matching and losses as SparseOcc: Hungarian matching with cost ``cls * focal + mask * BCE +
dice * dice`` (SparseOcc's weights 2 x FocalLossCost(weight 2), 5, 5); losses: sigmoid focal
on every query (unmatched queries target "no class"), mask BCE and dice on the matched
pairs, all averaged over the number of ground-truth segments of the batch (all processes).
Ground-truth segments are one per class present among the kept voxels, or per instance for
the thing classes when instance labels are given (panoptic).

Inference merges the last prediction as SparseOcc (MaskFormer's semantic inference): queries
whose best class probability is below ``score_threshold`` are dropped, each voxel scores
``sum_q p_q(c) sigmoid(m_q)`` per class and takes the best class, and is free when that
score is below ``free_threshold``; voxels not kept are free. A panoptic head merges as
SparseOcc (Mask2Former's panoptic inference, :meth:`MaskOccHead.merge_panoptic`), and its
semantics are those of the panoptic segments, which RayIoU and RayPQ then score.

Coordinates are int64 (x, y, z) indices of the full grid (``grid_shape``); ground truth is
the Occ3D semantic grid (``num_classes`` = free).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.utils import reduce_mean
from mmengine.model import BaseModule
from scipy.optimize import linear_sum_assignment

from mmdet3d.registry import MODELS

from core.geometry import voxel_centres
from core.occ3d import FREE_LABEL, GRID_MIN, GRID_SHAPE, VOXEL_SIZE

from ..layers import AdaptiveMixing


def focal_cost(cls_logits, labels, alpha=0.25, gamma=2.0, eps=1e-12):
    """Sigmoid focal matching cost (mmdet's ``FocalLossCost``, SparseOcc's class cost).

    Args:
        cls_logits (Tensor): float [N, C] class logits of the queries.
        labels (Tensor): int64 [G] target classes.

    Returns:
        Tensor: float [N, G], focal loss of predicting each label minus that of not.
    """
    prob = cls_logits.sigmoid()
    neg = -(1 - prob + eps).log() * (1 - alpha) * prob.pow(gamma)
    pos = -(prob + eps).log() * alpha * (1 - prob).pow(gamma)
    return (pos - neg)[:, labels]


class _QueryLayer(nn.Module):
    """Self-attention, mask-guided sampling + AdaptiveMixing, FFN (post-norm residuals)."""

    def __init__(self, embed_dims, num_heads, num_frames, num_groups, num_points, num_levels,
                 mixing_out_points, ffn_dims, dropout, xavier_init):
        super().__init__()
        self.num_groups, self.num_points, self.num_levels = num_groups, num_points, num_levels
        self.self_attn = nn.MultiheadAttention(embed_dims, num_heads, batch_first=True)
        self.norm_attn = nn.LayerNorm(embed_dims)
        self.sampling_offsets = nn.Linear(embed_dims, num_groups * num_points * 3)
        self.scale_weights = nn.Linear(embed_dims, num_groups * num_points * num_levels)
        self.mixing = AdaptiveMixing(embed_dims, num_points * num_frames, num_groups,
                                     mixing_out_points)
        self.norm_mix = nn.LayerNorm(embed_dims)
        self.ffn = nn.Sequential(nn.Linear(embed_dims, ffn_dims), nn.ReLU(inplace=True),
                                 nn.Dropout(dropout), nn.Linear(ffn_dims, embed_dims),
                                 nn.Dropout(dropout))
        self.norm_ffn = nn.LayerNorm(embed_dims)
        nn.init.zeros_(self.sampling_offsets.weight)
        nn.init.zeros_(self.sampling_offsets.bias)
        if xavier_init:
            # nn.MultiheadAttention's in_proj is xavier already; SparseOcc's out_proj too.
            nn.init.xavier_uniform_(self.self_attn.out_proj.weight)

    def forward(self, query, query_pos, mask_voxels, voxel_size, images):
        """query [B, N, C]; query_pos [N, C]; mask_voxels float [B, N, G P, 3] anchors
        (metres) of the voxels drawn from each query's mask."""
        q = query + query_pos
        query = self.norm_attn(query + self.self_attn(q, q, query, need_weights=False)[0])
        batch, num = query.shape[:2]
        shape = (batch, num, self.num_groups, self.num_points)
        offsets = self.sampling_offsets(query).view(*shape, 3).float()
        points = mask_voxels.view(*shape, 3) + offsets * voxel_size
        weights = self.scale_weights(query).view(*shape, self.num_levels).float().softmax(-1)
        sampled = images.sample(points, weights)
        query = self.norm_mix(self.mixing(sampled, query))
        return self.norm_ffn(query + self.ffn(query))


@MODELS.register_module()
class MaskOccHead(BaseModule):
    """Mask-transformer occupancy head (see the module docstring). Defaults are the paper
    setting (SparseOcc's).

    Args:
        num_classes (int): non-free classes (17 for Occ3D); ``num_classes`` is free.
        embed_dims (int): C of the voxel features and queries.
        num_queries (int): N.
        num_layers (int): refinements of the queries (num_layers + 1 predictions).
        num_frames (int): T, frames sampled.
        num_groups (int): G channel groups of the sampling.
        num_points (int): P points per group.
        num_levels (int): L image feature levels.
        num_heads (int): self-attention heads.
        mixing_out_points (int): AdaptiveMixing's output points.
        ffn_dims (int): FFN hidden width.
        dropout (float): FFN dropout.
        attn_xavier_init (bool): xavier-initialise the self-attention's output projection
            too (SparseOcc).
        voxel_anchor (str): where a drawn mask voxel's sample points start before their
            offsets: ``'corner'`` (its lowest corner, SparseOcc) or ``'centre'``.
        grid_min (sequence of 3 floats): metres of the grid's lowest corner.
        grid_shape (sequence of 3 ints): (X, Y, Z) full grid.
        voxel_size (float): voxel edge in metres.
        score_threshold (float): inference drops queries whose best class probability is
            below this.
        overlap_threshold (float): panoptic inference drops a query when less than this
            fraction of its mask (probability >= 0.5) is left after the other queries claim
            their voxels.
        free_threshold (float): inference labels a kept voxel free when its best class
            score is below this.
        class_names (sequence of str, optional): names of the labels in order (free last);
            needed to resolve ``thing_classes``.
        thing_classes (sequence of str): classes that form instances (panoptic targets and
            output).
        ignore_label (int): ground-truth label of unknown voxels (no segment).
        panoptic (bool): also output ``pred_occ_inst``.
        match_cost (dict): weights ``cls`` (of the focal cost), ``mask`` (BCE) and ``dice``.
        loss_cls (dict): sigmoid focal loss config, called as ``(logits [N, C], labels [N]
            with C = no class, avg_factor)``.
        loss_mask (dict): mask BCE config (sigmoid CE), ``(logits [P], target [P],
            avg_factor)``.
        loss_dice (dict): dice config (mmdet DiceLoss), ``(logits [M, K], target [M, K],
            avg_factor)``.
        init_cfg (dict, optional): mmengine initialisation config.
    """

    def __init__(self, num_classes=FREE_LABEL, embed_dims=256, num_queries=100, num_layers=2,
                 num_frames=8, num_groups=4, num_points=4, num_levels=4, num_heads=8,
                 mixing_out_points=128, ffn_dims=512, dropout=0.1, attn_xavier_init=True,
                 voxel_anchor='corner', grid_min=GRID_MIN, grid_shape=GRID_SHAPE,
                 voxel_size=VOXEL_SIZE, score_threshold=0.3, overlap_threshold=0.8,
                 free_threshold=0.01, class_names=None,
                 thing_classes=(), panoptic=False, ignore_label=255,
                 # SparseOcc: cost_class 2 x FocalLossCost(weight=2.0).
                 match_cost=dict(cls=4.0, mask=5.0, dice=5.0),
                 # SparseOcc: FocalLoss(loss_weight=2.0) x loss_cls_weight 2.0.
                 loss_cls=dict(type='mmdet.FocalLoss', use_sigmoid=True, gamma=2.0,
                               alpha=0.25, loss_weight=4.0),
                 loss_mask=dict(type='mmdet.CrossEntropyLoss', use_sigmoid=True,
                                loss_weight=5.0),
                 loss_dice=dict(type='mmdet.DiceLoss', use_sigmoid=True, activate=True,
                                naive_dice=True, eps=1.0, loss_weight=5.0),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.num_classes, self.free_label = int(num_classes), int(num_classes)
        self.num_queries, self.num_layers = int(num_queries), int(num_layers)
        self.num_groups, self.num_points = int(num_groups), int(num_points)
        self.grid_min = tuple(float(v) for v in grid_min)
        self.grid_shape = tuple(int(s) for s in grid_shape)
        self.voxel_size = float(voxel_size)
        self.score_threshold, self.free_threshold = score_threshold, free_threshold
        self.overlap_threshold = float(overlap_threshold)
        self.ignore_label = int(ignore_label)
        if voxel_anchor not in ('corner', 'centre'):
            raise ValueError(f'MaskOccHead: voxel_anchor must be \'corner\' or \'centre\', '
                             f'got {voxel_anchor!r}')
        self.voxel_anchor = voxel_anchor
        self.panoptic = bool(panoptic)
        if thing_classes and class_names is None:
            raise ValueError('MaskOccHead: thing_classes are names; give class_names too')
        unknown = [name for name in thing_classes if name not in (class_names or ())]
        if unknown:
            raise ValueError(f'MaskOccHead: thing_classes {unknown} not in class_names')
        self.thing_classes = tuple(list(class_names).index(name) for name in thing_classes)
        if self.panoptic and not self.thing_classes:
            raise ValueError('MaskOccHead: panoptic=True needs thing_classes')
        self.match_cost = dict(match_cost)

        self.query_feat = nn.Embedding(num_queries, embed_dims)
        self.query_pos = nn.Embedding(num_queries, embed_dims)
        self.layer = _QueryLayer(embed_dims, num_heads, num_frames, num_groups, num_points,
                                 num_levels, mixing_out_points, ffn_dims, dropout,
                                 attn_xavier_init)
        self.classifier = nn.Linear(embed_dims, num_classes)
        self.mask_proj = nn.Linear(embed_dims, embed_dims)
        self.loss_cls = MODELS.build(loss_cls)
        self.loss_mask = MODELS.build(loss_mask)
        self.loss_dice = MODELS.build(loss_dice)

    # ----------------------------------------------------------------------------- forward
    def forward(self, coords, mask_feats, images):
        """
        Args:
            coords (Tensor): int64 [B, K, 3] kept full-grid voxel indices.
            mask_feats (Tensor): float [B, K, C] their features (the decoder's output).
            images (MultiviewImages): this forward's image features.

        Returns:
            dict: ``cls_logits`` list of num_layers + 1 float [B, N, num_classes] and
            ``mask_logits`` list of num_layers + 1 float [B, N, K], first to last.
        """
        batch = mask_feats.shape[0]
        anchors = voxel_centres(coords, self.grid_min, self.voxel_size)         # [B, K, 3]
        if self.voxel_anchor == 'corner':
            anchors = anchors - 0.5 * self.voxel_size
        query = self.query_feat.weight[None].expand(batch, -1, -1)
        cls, mask = self._predict(query, mask_feats)
        cls_logits, mask_logits = [cls], [mask]
        for _ in range(self.num_layers):
            drawn = self.draw_mask_voxels(mask.detach() > 0, self.num_groups * self.num_points)
            mask_voxels = anchors.gather(1, drawn.flatten(1)[..., None].expand(-1, -1, 3))
            query = self.layer(query, self.query_pos.weight, mask_voxels.view(
                *drawn.shape, 3), self.voxel_size, images)
            cls, mask = self._predict(query, mask_feats)
            cls_logits.append(cls)
            mask_logits.append(mask)
        return dict(cls_logits=cls_logits, mask_logits=mask_logits)

    def _predict(self, query, mask_feats):
        mask = torch.einsum('bnc,bkc->bnk', self.mask_proj(query), mask_feats)
        return self.classifier(query), mask

    def draw_mask_voxels(self, in_mask, num):
        """Indices of voxels drawn from each query's mask.

        Args:
            in_mask (Tensor): bool [B, N, K], the voxels of each query's mask.
            num (int): voxels to draw per query.

        Returns:
            Tensor: int64 [B, N, num] indices into K: uniform at random in training, at
            evenly spaced ranks at inference; from all K voxels for a query whose mask is
            empty.
        """
        empty = ~in_mask.any(-1, keepdim=True)
        in_mask = in_mask | empty
        cumulative = in_mask.long().cumsum(-1)                                  # [B, N, K]
        count = cumulative[..., -1:]
        if self.training:
            fraction = torch.rand(*in_mask.shape[:2], num, device=in_mask.device)
        else:
            fraction = (torch.arange(num, device=in_mask.device) + 0.5) / num
            fraction = fraction.expand(*in_mask.shape[:2], -1)
        rank = (fraction * count).long().clamp_max(count - 1)                   # [B, N, num]
        # The r-th voxel of the mask is where the running count first exceeds r.
        return torch.searchsorted(cumulative, rank + 1)

    # ----------------------------------------------------------------------------- targets
    def get_targets(self, coords, gt_occ_sem, gt_occ_inst=None, valid=None):
        """Ground-truth segments of one sample on its kept voxels.

        Args:
            coords (Tensor): int64 [K, 3] full-grid indices.
            gt_occ_sem (Tensor): uint8/int [X, Y, Z] Occ3D labels (``free_label`` = free,
                ``ignore_label`` = unknown, no segment).
            gt_occ_inst (Tensor, optional): int [X, Y, Z] instance ids; thing-class voxels
                then form one segment per (class, instance).
            valid (Tensor, optional): bool/0-1 [X, Y, Z], True where the label is known;
                None = everywhere.

        Returns:
            tuple: ``labels`` int64 [G], ``masks`` float [G, K'] 0/1 and ``voxel_valid`` bool
            [K] (the K' kept voxels that count).
        """
        index = (coords[:, 0], coords[:, 1], coords[:, 2])
        voxel_labels = gt_occ_sem[index].long()
        voxel_valid = torch.ones_like(voxel_labels, dtype=torch.bool) if valid is None \
            else valid[index].bool()
        keys = voxel_labels.clone()
        if gt_occ_inst is not None and self.thing_classes:
            # One key per (class, instance) on thing voxels; classes stay < num_classes + 1.
            thing = torch.isin(voxel_labels, voxel_labels.new_tensor(self.thing_classes))
            inst = gt_occ_inst[index].long()
            keys = torch.where(thing, voxel_labels + (self.num_classes + 1) * (inst + 1), keys)
        keys = keys[voxel_valid]
        # Unknown voxels (``ignore_label``) are no segment, as free ones: SparseOcc's
        # rotated instance map fills them with its empty-space id.
        empty = (voxel_labels == self.free_label) | (voxel_labels == self.ignore_label)
        keys = torch.where(empty[voxel_valid],
                           torch.full_like(keys, -1), keys)
        unique = torch.unique(keys)
        unique = unique[unique >= 0]
        return unique % (self.num_classes + 1), (keys[None] == unique[:, None]).float(), \
            voxel_valid

    # ---------------------------------------------------------------------------- matching
    @torch.no_grad()
    def match_cost_matrix(self, cls_logits, mask_logits, gt_labels, gt_masks):
        """Matching cost of every (query, segment) pair.

        Args:
            cls_logits (Tensor): float [N, num_classes].
            mask_logits (Tensor): float [N, K].
            gt_labels (Tensor): int64 [G].
            gt_masks (Tensor): float [G, K] 0/1.

        Returns:
            Tensor: float [N, G] = w_cls * focal + w_mask * mean BCE + w_dice * dice.
        """
        mask_logits, gt_masks = mask_logits.float(), gt_masks.float()
        # BCE(x, t) = t softplus(-x) + (1 - t) softplus(x), averaged over voxels.
        cost_mask = (F.softplus(-mask_logits) @ gt_masks.T
                     + F.softplus(mask_logits) @ (1 - gt_masks).T) / max(gt_masks.shape[1], 1)
        prob = mask_logits.sigmoid()
        cost_dice = 1 - (2 * prob @ gt_masks.T + 1) / (
            prob.sum(-1)[:, None] + gt_masks.sum(-1)[None] + 1)
        return (self.match_cost['cls'] * focal_cost(cls_logits.float(), gt_labels)
                + self.match_cost['mask'] * cost_mask + self.match_cost['dice'] * cost_dice)

    def hungarian_match(self, cls_logits, mask_logits, gt_labels, gt_masks):
        """Optimal one-to-one assignment (scipy); int64 (query_index [G'], segment_index
        [G']) with G' = min(N, G)."""
        cost = self.match_cost_matrix(cls_logits, mask_logits, gt_labels, gt_masks)
        rows, cols = linear_sum_assignment(cost.cpu().numpy())
        device = cls_logits.device
        return (torch.as_tensor(rows, dtype=torch.long, device=device),
                torch.as_tensor(cols, dtype=torch.long, device=device))

    # ------------------------------------------------------------------------------ losses
    def loss(self, preds, coords, gt_occ_sem, gt_occ_inst=None, valid=None):
        """Deep-supervised losses of every prediction.

        Args:
            preds (dict): ``forward``'s output.
            coords (Tensor): int64 [B, K, 3] kept voxel indices.
            gt_occ_sem (Tensor): [B, X, Y, Z] Occ3D labels.
            gt_occ_inst (Tensor, optional): [B, X, Y, Z] instance ids (panoptic).
            valid (Tensor, optional): bool [B, X, Y, Z], voxels whose labels count; None =
                all (SparseOcc's default).

        Returns:
            dict: ``loss_cls``, ``loss_mask``, ``loss_dice`` of the last prediction and the
            same keys prefixed ``d{i}.`` for the earlier ones.
        """
        batch = coords.shape[0]
        targets = [self.get_targets(coords[b], gt_occ_sem[b],
                                    None if gt_occ_inst is None else gt_occ_inst[b],
                                    None if valid is None else valid[b])
                   for b in range(batch)]
        num_segments = sum(len(labels) for labels, _, _ in targets)
        avg_factor = reduce_mean(coords.new_tensor(float(num_segments),
                                                   dtype=torch.float32)).clamp_min(1).item()
        num_preds = len(preds['cls_logits'])
        losses = {}
        for i, (cls, mask) in enumerate(zip(preds['cls_logits'], preds['mask_logits'])):
            prefix = '' if i == num_preds - 1 else f'd{i}.'
            for name, value in self._loss_single(cls, mask, targets, avg_factor).items():
                losses[prefix + name] = value
        return losses

    def _loss_single(self, cls_logits, mask_logits, targets, avg_factor):
        # Losses in float32 whatever the forward's precision (SparseOcc's force_fp32).
        cls_logits, mask_logits = cls_logits.float(), mask_logits.float()
        loss_cls = loss_mask = loss_dice = mask_logits.sum() * 0.0
        for b, (labels, masks, voxel_valid) in enumerate(targets):
            cls_target = labels.new_full((cls_logits.shape[1],), self.num_classes)
            if labels.numel():
                pred_masks = mask_logits[b][:, voxel_valid]
                query, segment = self.hungarian_match(cls_logits[b], pred_masks, labels, masks)
                cls_target[query] = labels[segment]
                matched, gt = pred_masks[query], masks[segment]
                loss_mask = loss_mask + self.loss_mask(
                    matched.reshape(-1), gt.reshape(-1),
                    avg_factor=avg_factor * max(gt.shape[1], 1))
                loss_dice = loss_dice + self.loss_dice(matched, gt, avg_factor=avg_factor)
            # One-hot targets (no-object = all zeros) keep mmdet's FocalLoss on its PyTorch
            # path on every device, as on the CPU: the same numbers everywhere, and a GPU run
            # needs no CUDA build of mmcv's sigmoid_focal_loss.
            cls_one_hot = F.one_hot(cls_target, self.num_classes + 1)[:, :self.num_classes]
            loss_cls = loss_cls + self.loss_cls(cls_logits[b], cls_one_hot,
                                                avg_factor=avg_factor)
        return dict(loss_cls=loss_cls, loss_mask=loss_mask, loss_dice=loss_dice)

    # --------------------------------------------------------------------------- inference
    @torch.no_grad()
    def predict(self, preds, coords):
        """Merges the last prediction into one label per voxel (see the module docstring).

        Args:
            preds (dict): ``forward``'s output.
            coords (Tensor): int64 [B, K, 3] kept voxel indices.

        Returns:
            list of dict: per sample ``pred_occ_sem`` uint8 [X, Y, Z] (``free_label`` =
            free) and, when ``panoptic``, ``pred_occ_inst`` int32 [X, Y, Z] (0 = none, else
            the segment id of :meth:`merge_panoptic`); a panoptic head's ``pred_occ_sem``
            are the segments' labels.
        """
        class_prob = preds['cls_logits'][-1].float().sigmoid()                  # [B, N, C]
        mask_prob = preds['mask_logits'][-1].float().sigmoid()                  # [B, N, K]
        confident = class_prob.max(-1).values > self.score_threshold
        class_prob = class_prob * confident[..., None]
        score, labels = torch.einsum('bnc,bnk->bkc', class_prob, mask_prob).max(-1)
        labels = torch.where(score < self.free_threshold,
                             torch.full_like(labels, self.free_label), labels)
        results = []
        for b in range(coords.shape[0]):
            index = (coords[b, :, 0], coords[b, :, 1], coords[b, :, 2])
            voxel_labels, inst = labels[b], None
            if self.panoptic:
                inst, voxel_labels = self.merge_panoptic(class_prob[b], mask_prob[b])
            sem = torch.full(self.grid_shape, self.free_label, dtype=torch.uint8,
                             device=coords.device)
            sem[index] = voxel_labels.to(torch.uint8)
            result = dict(pred_occ_sem=sem)
            if self.panoptic:
                result['pred_occ_inst'] = torch.zeros(self.grid_shape, dtype=torch.int32,
                                                      device=coords.device)
                result['pred_occ_inst'][index] = inst
            results.append(result)
        return results

    def merge_panoptic(self, class_prob, mask_prob):
        """SparseOcc's panoptic merge (Mask2Former's panoptic inference) of one sample.

        Queries whose best class probability exceeds ``score_threshold`` claim the voxels
        where their ``score * mask`` is the largest; in query order, a query keeps the
        claimed voxels where its mask is >= 0.5 unless they are less than
        ``overlap_threshold`` of its mask's area. Every thing-class query is a segment; a
        stuff class is one segment, its first query's. As in SparseOcc, voxels of a later
        query of an already seen stuff class take that segment's id but keep the label free
        (its released panoptic figures were computed so).

        Args:
            class_prob (Tensor): float [N, C] class probabilities.
            mask_prob (Tensor): float [N, K] mask probabilities over the kept voxels.

        Returns:
            tuple(Tensor, Tensor): segment ids int32 [K] (0 = none, 1, 2, ... in order of
            creation) and labels int64 [K] (``free_label`` where no segment is).
        """
        scores, classes = class_prob.max(-1)
        keep = scores > self.score_threshold
        scores, classes, masks = scores[keep], classes[keep], mask_prob[keep]
        num_voxels = mask_prob.shape[1]
        segment = torch.zeros(num_voxels, dtype=torch.int32, device=mask_prob.device)
        labels = torch.full((num_voxels,), self.free_label, dtype=torch.long,
                            device=mask_prob.device)
        if not len(classes):
            return segment, labels
        claimed = (scores[:, None] * masks).argmax(0)                           # [K]
        stuff_segment, next_id = {}, 0
        for q, label in enumerate(classes.tolist()):
            inside = masks[q] >= 0.5
            area, original = int((claimed == q).sum()), int(inside.sum())
            voxels = (claimed == q) & inside
            if not (area and original and bool(voxels.any())):
                continue
            if area / original < self.overlap_threshold:
                continue
            if label not in self.thing_classes:
                if label in stuff_segment:
                    segment[voxels] = stuff_segment[label]
                    continue
                stuff_segment[label] = next_id + 1
            next_id += 1
            segment[voxels] = next_id
            labels[voxels] = label
        return segment, labels
