"""GD-OCC: geometry-driven occupancy from multi-view, multi-frame images.

Pipeline (every module configured, nothing hard-wired but the data flow)::

    imgs [B, T*N, 3, H, W]
      -> ImageEncoder                   L levels [B, T*N, C, H_l, W_l] (frame-major views)
      -> LSSViewTransform  (current frame, level ``lss_level``)
                                        volume [B, C, X0, Y0, Z0], prior [B, 1, X0, Y0, Z0],
                                        depth [B*N, D, h, w]
      -> ImplicitViewTransform (all frames, all levels, depth-weighted)
                                        volume [B, C, X0, Y0, Z0]
      -> GatedVolumeFusion              volume [B, C, X0, Y0, Z0]
      -> SparseVoxelProposal (volume + LSS prior)
                                        coords [B, K, 3] (full grid), feats [B, K, C]
      -> SparseVoxelDecoder             feats [B, K, C]
      -> MaskOccHead                    per-voxel labels on the full grid (free elsewhere)

All geometry is in the augmented current ego frame: ``ego2img`` (metainfo, [T*N, 4, 4])
already contains the image and BEV augmentation and, for past frames, the ego motion.
"""
import numpy as np
import torch

from mmdet3d.models.detectors import Base3DDetector
from mmdet3d.registry import MODELS


def _stack_meta(data_samples, key, device):
    """float32 [B, ...] from a per-sample metainfo array (numpy or tensor)."""
    return torch.stack([torch.as_tensor(np.asarray(s.metainfo[key]), dtype=torch.float32)
                        for s in data_samples]).to(device)


def _stack_field(data_samples, key, device):
    """[B, ...] from a per-sample data field (tensor or numpy), dtype kept."""
    return torch.stack([torch.as_tensor(getattr(s, key)) for s in data_samples]).to(device)


@MODELS.register_module()
class GDOcc(Base3DDetector):
    """GD-OCC detector (see the module docstring for the data flow).

    Args:
        img_encoder (dict): :class:`ImageEncoder` config; its neck's ``out_channels`` is the
            C shared by all later modules.
        lss (dict): :class:`LSSViewTransform` config; its grid is the coarse grid.
        lss_level (int): neck level fed to LSS; its stride must be ``lss.downsample`` and
            the stride of the ``gt_depth`` targets.
        implicit (dict): :class:`ImplicitViewTransform` config (same coarse grid, all
            ``num_levels`` neck levels).
        fusion (dict): :class:`GatedVolumeFusion` config.
        proposal (dict): :class:`SparseVoxelProposal` config; its level 0 is the coarse grid.
        decoder (dict): :class:`SparseVoxelDecoder` config (full grid).
        occ_head (dict): :class:`MaskOccHead` config (full grid).
        num_cams (int): cameras per frame.
        use_occ_scores (bool): pass the proposal's last-level logits to the head's
            ``predict`` (its ``occ_threshold`` then also frees voxels).
        loss_mask_key (str or None): data field (bool/uint8 [X, Y, Z]) marking the voxels
            whose labels supervise the proposal and the head, e.g. ``'mask_camera'`` (voxels
            no camera observed carry no loss, as in Occ3D training practice); None = all.
        data_preprocessor (dict, optional): e.g. ``Det3DDataPreprocessor`` with the image
            normalisation; it turns ``inputs['img']`` into ``inputs['imgs']``.
        init_cfg (dict, optional): mmengine initialisation config.
    """

    def __init__(self, img_encoder, lss, lss_level, implicit, fusion, proposal, decoder,
                 occ_head, num_cams=6, use_occ_scores=False, loss_mask_key='mask_camera',
                 data_preprocessor=None, init_cfg=None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.img_encoder = MODELS.build(img_encoder)
        self.lss = MODELS.build(lss)
        self.lss_level = int(lss_level)
        self.implicit = MODELS.build(implicit)
        self.fusion = MODELS.build(fusion)
        self.proposal = MODELS.build(proposal)
        self.decoder = MODELS.build(decoder)
        self.occ_head = MODELS.build(occ_head)
        self.num_cams = int(num_cams)
        self.use_occ_scores = bool(use_occ_scores)
        self.loss_mask_key = loss_mask_key
        # The proposal's coarse grid must be the view transforms' grid, or the volume
        # handed over would be reinterpreted at the wrong resolution.
        if tuple(self.lss.grid_shape) != tuple(self.proposal.level_shapes[0]) or \
                tuple(self.implicit.grid_shape) != tuple(self.proposal.level_shapes[0]):
            raise ValueError(f'GDOcc: LSS grid {self.lss.grid_shape}, implicit grid '
                             f'{self.implicit.grid_shape} and proposal level 0 '
                             f'{self.proposal.level_shapes[0]} must be equal')

    # ------------------------------------------------------------------------ features
    def extract_feat(self, batch_inputs_dict, batch_data_samples):
        """Image features -> sparse voxel set with refined features.

        Args:
            batch_inputs_dict (dict): ``imgs`` float [B, T*N, 3, H, W] (normalised).
            batch_data_samples (list of Det3DDataSample): metainfo ``ego2img``, ``cam2img``,
                ``cam2ego``, ``img_aug`` [T*N, 4, 4] and ``img_shape`` (H, W).

        Returns:
            dict: ``depth`` [B*N, D, h, w] (LSS probabilities), ``proposal`` (the
            proposal's output dict: ``coords`` int64 [B, K, 3] full-grid indices,
            ``scores`` [B, K], ``levels``) and ``feats`` float [B, K, C] (decoder output).
        """
        imgs = batch_inputs_dict['imgs']
        device = imgs.device
        img_shape = tuple(int(v) for v in batch_data_samples[0].metainfo['img_shape'][:2])
        ego2img = _stack_meta(batch_data_samples, 'ego2img', device)     # [B, T*N, 4, 4]
        cam2img = _stack_meta(batch_data_samples, 'cam2img', device)
        cam2ego = _stack_meta(batch_data_samples, 'cam2ego', device)
        img_aug = _stack_meta(batch_data_samples, 'img_aug', device)

        mlvl_feats = self.img_encoder(imgs)                   # L x [B, T*N, C, H_l, W_l]
        cur = slice(0, self.num_cams)  # frame 0 = current: the only one with depth / LSS
        lss_out = self.lss(mlvl_feats[self.lss_level][:, cur], ego2img[:, cur],
                           cam2img[:, cur], cam2ego[:, cur], img_aug[:, cur])
        implicit = self.implicit(lss_out['volume'], mlvl_feats, ego2img, img_shape,
                                 depth=lss_out['depth'])
        volume = self.fusion(lss_out['volume'], implicit)
        proposal = self.proposal(volume, lss_out['prior'])
        feats = self.decoder(proposal['coords'], proposal['feats'], mlvl_feats, ego2img,
                             img_shape)
        return dict(depth=lss_out['depth'], proposal=proposal, feats=feats)

    def _forward(self, batch_inputs_dict, batch_data_samples=None):
        """Raw head outputs (``tensor`` mode): the head's ``forward`` dict plus ``coords``."""
        out = self.extract_feat(batch_inputs_dict, batch_data_samples)
        preds = self.occ_head(out['proposal']['coords'], out['feats'])
        return dict(preds, coords=out['proposal']['coords'])

    # ------------------------------------------------------------------------- training
    def loss(self, batch_inputs_dict, batch_data_samples, **kwargs):
        """
        Args:
            batch_inputs_dict (dict): ``imgs`` float [B, T*N, 3, H, W].
            batch_data_samples (list of Det3DDataSample): besides the metainfo of
                :meth:`extract_feat`, data fields ``gt_occ_sem`` uint8 [200, 200, 16]
                (17 = free), ``gt_depth`` float [N, h, w] (metres at the LSS stride, 0 =
                none), the ``loss_mask_key`` field and, for panoptic heads, ``gt_occ_inst``.

        Returns:
            dict: ``loss_depth``, ``loss_proposal_l{l}`` per proposal level and the head's
            losses (``loss_cls``, ``loss_mask``, ``loss_dice``, ... and ``d{i}.`` copies).
        """
        device = batch_inputs_dict['imgs'].device
        out = self.extract_feat(batch_inputs_dict, batch_data_samples)
        gt_sem = _stack_field(batch_data_samples, 'gt_occ_sem', device)  # [B, X, Y, Z]
        gt_depth = _stack_field(batch_data_samples, 'gt_depth', device).float()
        gt_inst = None
        if getattr(self.occ_head, 'panoptic', False) and \
                all('gt_occ_inst' in s for s in batch_data_samples):
            gt_inst = _stack_field(batch_data_samples, 'gt_occ_inst', device)

        valid = None
        if self.loss_mask_key is not None:
            valid = _stack_field(batch_data_samples, self.loss_mask_key, device).bool()

        losses = {}
        losses.update(self.lss.loss(out['depth'], gt_depth))
        losses.update(self.proposal.loss(out['proposal']['levels'],
                                         gt_sem != self.occ_head.free_label, valid))
        preds = self.occ_head(out['proposal']['coords'], out['feats'])
        losses.update(self.occ_head.loss(preds, out['proposal']['coords'], gt_sem, gt_inst,
                                         valid))
        return losses

    # ------------------------------------------------------------------------ inference
    def predict(self, batch_inputs_dict, batch_data_samples, **kwargs):
        """
        Returns:
            list of Det3DDataSample: the inputs, each with ``pred_occ_sem`` numpy uint8
            [X, Y, Z] (``free_label`` = free) and, when the head is panoptic,
            ``pred_occ_inst`` numpy int32 [X, Y, Z]; numpy because the occupancy metric
            and the prediction writers consume numpy arrays.
        """
        out = self.extract_feat(batch_inputs_dict, batch_data_samples)
        coords = out['proposal']['coords']
        preds = self.occ_head(coords, out['feats'])
        occ_scores = out['proposal']['scores'] if self.use_occ_scores else None
        results = self.occ_head.predict(preds, coords, occ_scores)
        for sample, result in zip(batch_data_samples, results):
            for key, value in result.items():
                setattr(sample, key, value.cpu().numpy())
        return batch_data_samples
