"""Mask2Former-style occupancy head over sparse voxels.

N learnable queries each predict class logits (``num_classes`` non-free classes + 1
no-object) and a mask over the K kept voxels (dot product of a query embedding and the voxel
mask features). Queries are refined by L layers of masked cross-attention to the voxels
(each query sees only the voxels its previous mask predicts with probability >= the
threshold), self-attention among queries and an FFN; a prediction is made before the first
layer and after every layer, and every prediction is supervised (deep supervision).

Free voxels are never a target: a kept voxel that no mask claims is free. Per-voxel class
probabilities for the Lovasz / scene-class-affinity losses are therefore the scores
``s_c = sum_q p_q(c) sigmoid(m_q)`` of the non-free classes and, for free, the no-object
mass ``sum_q p_q(no-object) sigmoid(m_q)`` plus ``1 - max_q sigmoid(m_q)`` (no query claims
the voxel), normalised to sum to 1. Every term keeps a gradient: with many queries the
scores may sum above 1, and a free probability clamped at 0 would stall those losses.

Coordinates are int64 (x, y, z) indices of the full grid (``grid_shape``, Occ3D 200 x 200
x 16); ground truth is the Occ3D semantic grid (``free_label`` = 17).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from scipy.optimize import linear_sum_assignment

from mmdet3d.registry import MODELS
from ..decoders.sparse_voxel_decoder import VoxelPositionalEncoding, voxel_centres

# sigmoid(-1e4) = 0 and softplus(-1e4) = 0 in float32 and float16 alike.
_IGNORED_LOGIT = -1e4


class _QueryLayer(nn.Module):
    """Masked cross-attention (queries -> voxels), query self-attention, FFN; post-norm."""

    def __init__(self, embed_dims, num_heads, ffn_dims, dropout):
        super().__init__()
        self.num_heads = num_heads
        self.cross_attn = nn.MultiheadAttention(embed_dims, num_heads, dropout=dropout,
                                                batch_first=True)
        self.self_attn = nn.MultiheadAttention(embed_dims, num_heads, dropout=dropout,
                                               batch_first=True)
        self.ffn = nn.Sequential(nn.Linear(embed_dims, ffn_dims), nn.ReLU(inplace=True),
                                 nn.Dropout(dropout), nn.Linear(ffn_dims, embed_dims))
        self.norms = nn.ModuleList(nn.LayerNorm(embed_dims) for _ in range(3))
        self.dropout = nn.Dropout(dropout)

    def forward(self, query, query_pos, voxel_feats, voxel_pos, blocked):
        """query [B, N, C]; query_pos [N, C]; voxel_feats, voxel_pos [B, K, C];
        blocked bool [B, N, K], True where a query may not look."""
        attn_mask = blocked.repeat_interleave(self.num_heads, 0)
        out = self.cross_attn(query + query_pos, voxel_feats + voxel_pos, voxel_feats,
                              attn_mask=attn_mask, need_weights=False)[0]
        query = self.norms[0](query + self.dropout(out))
        q = query + query_pos
        query = self.norms[1](query + self.dropout(self.self_attn(q, q, query,
                                                                  need_weights=False)[0]))
        return self.norms[2](query + self.dropout(self.ffn(query)))


@MODELS.register_module()
class MaskOccHead(BaseModule):
    """Mask-transformer occupancy head on the sparse voxel set.

    Args:
        num_classes (int): non-free semantic classes (17 for Occ3D); class index
            ``num_classes`` of the logits is no-object.
        embed_dims (int): C of the voxel features and queries.
        num_queries (int): N.
        num_layers (int): L query layers (L + 1 supervised predictions).
        num_heads (int): attention heads.
        ffn_dims (int): FFN hidden width.
        dropout (float): attention / FFN dropout.
        grid_min (sequence of 3 floats): metres of the grid's lowest corner.
        grid_shape (sequence of 3 ints): (X, Y, Z) full grid, e.g. (200, 200, 16).
        voxel_size (float): voxel edge in metres, e.g. 0.4.
        free_label (int): label of free voxels in the GT / output; must equal num_classes.
        attn_mask_threshold (float): a query attends to voxels whose previous mask
            probability is >= this (0.5 in Mask2Former); a query with no such voxel
            attends to all.
        score_threshold (float): at inference a kept voxel whose best query score
            (class confidence x mask probability) is below this is free.
        occ_threshold (float or None): if set and ``predict`` gets the proposal's
            ``occ_scores``, kept voxels with occupancy probability below it are free.
        thing_classes (sequence of int): classes that form instances (panoptic output and
            per-instance GT masks); empty for semantic-only.
        panoptic (bool): also output ``pred_occ_inst`` (query index + 1 on thing voxels).
        match_cost (dict): weights ``cls``, ``mask`` (BCE) and ``dice`` of the Hungarian
            matching cost.
        loss_cls (dict): class loss config, mmdet CrossEntropyLoss with ``class_weight``
            (no-object 0.1), called as ``(logits [N', C+1], labels [N'], avg_factor)``.
        loss_mask (dict): mask BCE config (sigmoid CE), ``(logits [P], target [P])``.
        loss_dice (dict): dice config (mmdet DiceLoss), ``(logits [M, K], target [M, K])``.
        loss_lovasz (dict or None): Lovasz-softmax on per-voxel probabilities.
        loss_geo_scal (dict or None): geometric scene-class affinity.
        loss_sem_scal (dict or None): semantic scene-class affinity.
        init_cfg (dict, optional): mmengine initialisation config.
    """

    def __init__(self, num_classes, embed_dims, num_queries, num_layers, num_heads, ffn_dims,
                 dropout, grid_min, grid_shape, voxel_size, free_label, attn_mask_threshold,
                 score_threshold, occ_threshold, thing_classes, panoptic, match_cost, loss_cls,
                 loss_mask, loss_dice, loss_lovasz=None, loss_geo_scal=None,
                 loss_sem_scal=None, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if free_label != num_classes:
            raise ValueError('free_label must equal num_classes: the free channel of the '
                             'per-voxel probabilities sits where no-object is in the logits')
        self.num_classes = num_classes
        self.num_queries = num_queries
        self.grid_min = tuple(float(v) for v in grid_min)
        self.grid_shape = tuple(int(s) for s in grid_shape)
        self.voxel_size = float(voxel_size)
        self.free_label = free_label
        self.attn_mask_threshold = attn_mask_threshold
        self.score_threshold = score_threshold
        self.occ_threshold = occ_threshold
        self.thing_classes = tuple(int(c) for c in thing_classes)
        self.panoptic = panoptic
        if panoptic and not self.thing_classes:
            raise ValueError('panoptic=True needs thing_classes')
        self.match_cost = dict(match_cost)

        self.query_feat = nn.Embedding(num_queries, embed_dims)
        self.query_pos = nn.Embedding(num_queries, embed_dims)
        self.voxel_pos = VoxelPositionalEncoding(
            embed_dims, self.grid_min, [s * self.voxel_size for s in self.grid_shape])
        self.mask_feat_proj = nn.Linear(embed_dims, embed_dims)
        self.layers = nn.ModuleList(_QueryLayer(embed_dims, num_heads, ffn_dims, dropout)
                                    for _ in range(num_layers))
        self.out_norm = nn.LayerNorm(embed_dims)
        self.cls_embed = nn.Linear(embed_dims, num_classes + 1)
        self.mask_embed = nn.Sequential(
            nn.Linear(embed_dims, embed_dims), nn.ReLU(inplace=True),
            nn.Linear(embed_dims, embed_dims), nn.ReLU(inplace=True),
            nn.Linear(embed_dims, embed_dims))

        self.loss_cls = MODELS.build(loss_cls)
        self.loss_mask = MODELS.build(loss_mask)
        self.loss_dice = MODELS.build(loss_dice)
        self.loss_lovasz = MODELS.build(loss_lovasz) if loss_lovasz else None
        self.loss_geo_scal = MODELS.build(loss_geo_scal) if loss_geo_scal else None
        self.loss_sem_scal = MODELS.build(loss_sem_scal) if loss_sem_scal else None

    # ----------------------------------------------------------------------------- forward
    def forward(self, coords, feats):
        """
        Args:
            coords (Tensor): int64 [B, K, 3] kept voxel indices of the full grid.
            feats (Tensor): float [B, K, C] voxel features (the decoder's output).

        Returns:
            dict: ``cls_logits`` list of L + 1 float [B, N, num_classes + 1] and
            ``mask_logits`` list of L + 1 float [B, N, K], first (before any layer) to last.
        """
        batch = feats.shape[0]
        voxel_pos = self.voxel_pos(voxel_centres(coords, self.grid_min, self.voxel_size))
        mask_feats = self.mask_feat_proj(feats)
        query = self.query_feat.weight[None].expand(batch, -1, -1)
        query_pos = self.query_pos.weight
        cls_logits, mask_logits = [], []
        for layer in [None, *self.layers]:
            if layer is not None:
                query = layer(query, query_pos, feats, voxel_pos, blocked)
            cls, mask = self._predict(query, mask_feats)
            cls_logits.append(cls)
            mask_logits.append(mask)
            blocked = self._attention_block(mask)
        return dict(cls_logits=cls_logits, mask_logits=mask_logits)

    def _predict(self, query, mask_feats):
        query = self.out_norm(query)
        mask = torch.einsum('bnc,bkc->bnk', self.mask_embed(query), mask_feats)
        return self.cls_embed(query), mask

    def _attention_block(self, mask_logits):
        """bool [B, N, K], True where the next layer's query must not attend. Detached: the
        attention mask is a routing decision, not a path for mask gradients."""
        blocked = mask_logits.detach().sigmoid() < self.attn_mask_threshold
        # A query whose mask is empty would attend to nothing (NaN): let it see everything.
        return blocked & ~blocked.all(-1, keepdim=True)

    # ----------------------------------------------------------------------------- targets
    def get_targets(self, coords, gt_occ_sem, gt_occ_inst=None, valid=None):
        """Ground truth of one sample on its kept voxels.

        Args:
            coords (Tensor): int64 [K, 3] full-grid indices.
            gt_occ_sem (Tensor): uint8/int [X, Y, Z] Occ3D labels (``free_label`` = free).
            gt_occ_inst (Tensor, optional): int [X, Y, Z] instance ids; used for
                ``thing_classes`` when given.
            valid (Tensor, optional): bool/0-1 [X, Y, Z], True where the label is known
                (e.g. the camera mask); None = everywhere.

        Returns:
            tuple: ``labels`` int64 [G] target classes, ``masks`` float [G, K] 0/1 (0 on
            invalid voxels), ``voxel_labels`` int64 [K] (free included) and
            ``voxel_valid`` bool [K]. One target per non-free class present on valid
            voxels, or per (class, instance) for thing classes when ``gt_occ_inst`` is given.
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
        keys = torch.where((voxel_labels == self.free_label) | ~voxel_valid,
                           torch.full_like(keys, -1), keys)
        unique = torch.unique(keys)
        unique = unique[unique >= 0]
        masks = (keys[None] == unique[:, None]).float()
        labels = unique % (self.num_classes + 1)
        return labels, masks, voxel_labels, voxel_valid

    # ---------------------------------------------------------------------------- matching
    @torch.no_grad()
    def match_cost_matrix(self, cls_logits, mask_logits, gt_labels, gt_masks, num_voxels=None):
        """Matching cost of every (query, target) pair.

        Args:
            cls_logits (Tensor): float [N, num_classes + 1].
            mask_logits (Tensor): float [N, K]; voxels to leave out carry a large negative
                logit (no BCE / dice contribution against a 0 target).
            gt_labels (Tensor): int64 [G].
            gt_masks (Tensor): float [G, K] 0/1.
            num_voxels (int, optional): voxels the BCE is averaged over (default K).

        Returns:
            Tensor: float [N, G] = w_cls * (-p(class)) + w_mask * mean BCE + w_dice * dice.
        """
        num_voxels = mask_logits.shape[1] if num_voxels is None else num_voxels
        cost_cls = -cls_logits.softmax(-1)[:, gt_labels]
        # BCE(x, t) = t softplus(-x) + (1 - t) softplus(x), averaged over voxels.
        cost_mask = (F.softplus(-mask_logits) @ gt_masks.T
                     + F.softplus(mask_logits) @ (1 - gt_masks).T) / max(num_voxels, 1)
        prob = mask_logits.sigmoid()
        cost_dice = 1 - (2 * prob @ gt_masks.T + 1) / (
            prob.sum(-1)[:, None] + gt_masks.sum(-1)[None] + 1)
        return (self.match_cost['cls'] * cost_cls + self.match_cost['mask'] * cost_mask
                + self.match_cost['dice'] * cost_dice)

    def hungarian_match(self, cls_logits, mask_logits, gt_labels, gt_masks, num_voxels=None):
        """Optimal one-to-one assignment (scipy); returns int64 (query_index [G'],
        target_index [G']) with G' = min(N, G)."""
        cost = self.match_cost_matrix(cls_logits, mask_logits, gt_labels, gt_masks,
                                      num_voxels)
        rows, cols = linear_sum_assignment(cost.float().cpu().numpy())
        device = cls_logits.device
        return (torch.as_tensor(rows, dtype=torch.long, device=device),
                torch.as_tensor(cols, dtype=torch.long, device=device))

    # ------------------------------------------------------------------------------- losses
    def voxel_probs(self, cls_logits, mask_logits):
        """Per-voxel probabilities over num_classes + 1 labels (last = free).

        Args:
            cls_logits (Tensor): float [B, N, num_classes + 1].
            mask_logits (Tensor): float [B, N, K].

        Returns:
            Tensor: float [B, K, num_classes + 1], rows sum to 1 (see the module docstring).
        """
        mask_prob = mask_logits.sigmoid()
        scores = torch.einsum('bnc,bnk->bkc', cls_logits.softmax(-1), mask_prob)
        unclaimed = 1 - mask_prob.max(1).values                                  # [B, K]
        probs = torch.cat([scores[..., :self.num_classes],
                           scores[..., self.num_classes:] + unclaimed[..., None]], -1)
        return probs / probs.sum(-1, keepdim=True).clamp_min(1e-6)

    def loss(self, preds, coords, gt_occ_sem, gt_occ_inst=None, valid=None):
        """Deep-supervised losses of every prediction.

        Args:
            preds (dict): ``forward``'s output.
            coords (Tensor): int64 [B, K, 3] kept voxel indices.
            gt_occ_sem (Tensor or list): [B, X, Y, Z] (or B tensors [X, Y, Z]) Occ3D labels.
            gt_occ_inst (Tensor or list, optional): instance ids, same layout.
            valid (Tensor or list, optional): bool/0-1 [B, X, Y, Z], True where the labels
                are known (Occ3D's camera mask); kept voxels outside it get no loss.

        Returns:
            dict: ``loss_cls``, ``loss_mask``, ``loss_dice`` (+ ``loss_lovasz``,
            ``loss_geo_scal``, ``loss_sem_scal`` when configured) of the last prediction,
            and the same keys prefixed ``d{i}.`` for the earlier ones.
        """
        batch = coords.shape[0]
        targets = [self.get_targets(coords[b], gt_occ_sem[b],
                                    None if gt_occ_inst is None else gt_occ_inst[b],
                                    None if valid is None else valid[b])
                   for b in range(batch)]
        num_preds = len(preds['cls_logits'])
        losses = {}
        for i, (cls, mask) in enumerate(zip(preds['cls_logits'], preds['mask_logits'])):
            prefix = '' if i == num_preds - 1 else f'd{i}.'
            for name, value in self._loss_single(cls, mask, targets).items():
                losses[prefix + name] = value
        return losses

    def _loss_single(self, cls_logits, mask_logits, targets):
        batch, num_queries = cls_logits.shape[:2]
        cls_targets = cls_logits.new_full((batch, num_queries), self.num_classes,
                                          dtype=torch.long)
        voxel_valid = torch.stack([t[3] for t in targets])                      # [B, K]
        # Invalid voxels get a logit whose BCE and dice against their 0 target vanish, with
        # no gradient; the BCE is averaged over valid voxels only.
        mask_logits = mask_logits.masked_fill(~voxel_valid[:, None], _IGNORED_LOGIT)
        matched_pred, matched_gt, num_valid = [], [], []
        for b, (labels, masks, _, _) in enumerate(targets):
            if labels.numel() == 0:
                continue
            valid_count = int(voxel_valid[b].sum())
            query_index, target_index = self.hungarian_match(cls_logits[b], mask_logits[b],
                                                             labels, masks, valid_count)
            cls_targets[b, query_index] = labels[target_index]
            matched_pred.append(mask_logits[b, query_index])
            matched_gt.append(masks[target_index])
            num_valid.append(valid_count * len(query_index))

        class_weight = getattr(self.loss_cls, 'class_weight', None)
        class_weight = cls_logits.new_ones(self.num_classes + 1) if class_weight is None \
            else cls_logits.new_tensor(class_weight)
        flat_targets = cls_targets.flatten()
        losses = dict(loss_cls=self.loss_cls(cls_logits.flatten(0, 1), flat_targets,
                                             avg_factor=class_weight[flat_targets].sum()))
        if matched_pred:
            pred, gt = torch.cat(matched_pred), torch.cat(matched_gt)
            losses['loss_mask'] = self.loss_mask(pred.reshape(-1), gt.reshape(-1),
                                                 avg_factor=max(sum(num_valid), 1))
            losses['loss_dice'] = self.loss_dice(pred, gt, avg_factor=pred.shape[0])
        else:  # nothing to match anywhere: zero losses that keep the graph
            losses['loss_mask'] = losses['loss_dice'] = mask_logits.sum() * 0.0

        if self.loss_lovasz or self.loss_geo_scal or self.loss_sem_scal:
            keep = voxel_valid.flatten()
            probs = self.voxel_probs(cls_logits, mask_logits).flatten(0, 1)[keep]
            voxel_labels = torch.cat([t[2] for t in targets])[keep]
            for name, fn in (('loss_lovasz', self.loss_lovasz),
                             ('loss_geo_scal', self.loss_geo_scal),
                             ('loss_sem_scal', self.loss_sem_scal)):
                if fn is not None:
                    losses[name] = fn(probs, voxel_labels)
        return losses

    # ---------------------------------------------------------------------------- inference
    @torch.no_grad()
    def predict(self, preds, coords, occ_scores=None):
        """Merges the last prediction's masks into one label per voxel.

        Each kept voxel goes to the query maximising (max non-free class probability) x
        (mask probability) and takes that query's class; it is free when that score is
        below ``score_threshold`` (or its proposal occupancy probability below
        ``occ_threshold``). Voxels not kept are free.

        Args:
            preds (dict): ``forward``'s output.
            coords (Tensor): int64 [B, K, 3] kept voxel indices.
            occ_scores (Tensor, optional): float [B, K] proposal occupancy logits.

        Returns:
            list of dict: per sample ``pred_occ_sem`` uint8 [X, Y, Z] (``free_label`` =
            free) and, when ``panoptic``, ``pred_occ_inst`` int32 [X, Y, Z] (0 = no
            instance, else query index + 1 on thing-class voxels).
        """
        class_prob = preds['cls_logits'][-1].softmax(-1)[..., :self.num_classes]
        confidence, query_class = class_prob.max(-1)                            # [B, N]
        scores = confidence[..., None] * preds['mask_logits'][-1].sigmoid()     # [B, N, K]
        best, query = scores.max(1)                                             # [B, K]
        labels = query_class.gather(1, query)
        free = best < self.score_threshold
        if occ_scores is not None and self.occ_threshold is not None:
            free |= occ_scores.sigmoid() < self.occ_threshold
        labels = torch.where(free, torch.full_like(labels, self.free_label), labels)
        results = []
        for b in range(coords.shape[0]):
            index = (coords[b, :, 0], coords[b, :, 1], coords[b, :, 2])
            sem = torch.full(self.grid_shape, self.free_label, dtype=torch.uint8,
                             device=coords.device)
            sem[index] = labels[b].to(torch.uint8)
            result = dict(pred_occ_sem=sem)
            if self.panoptic:
                thing = torch.isin(labels[b], labels.new_tensor(self.thing_classes))
                inst = torch.zeros(self.grid_shape, dtype=torch.int32, device=coords.device)
                inst[index] = torch.where(thing, query[b] + 1, 0).to(torch.int32)
                result['pred_occ_inst'] = inst
            results.append(result)
        return results
