"""GD-OCC: geometry-driven occupancy from multi-view, multi-frame images.

Pipeline (every module configured, nothing hard-wired but the data flow)::

    imgs [B, T*N, 3, H, W]
      -> ImageEncoder                   L levels [B, T*N, C, H_l, W_l] (frame-major views)
      -> LSSViewTransform  (current frame, level ``lss_level``; optional temporal stereo
                            against frame 1 at level ``stereo_level``)
                                        volume [B, C, X0, Y0, Z0], depth [B*N, D, h, w],
                                        prior [B, 1, X_p, Y_p, Z_p] (its own grid, e.g. the
                                        full grid)
      -> ImplicitViewTransform (all frames, all levels, depth-weighted)
                                        volume [B, C, X0, Y0, Z0]
      -> GatedVolumeFusion              volume [B, C, X0, Y0, Z0]
      -> SparseVoxelDecoder (stages refine, lift and prune coarse to fine; GSVP scores with
                             the LSS prior; samples depth-weighted by the LSS depth)
                                        coords [B, K, 3] (full grid), feats [B, K, C]
      -> MaskOccHead (mask-guided image sampling)
                                        per-voxel labels on the full grid (free elsewhere)

All geometry is in the augmented current ego frame: ``ego2img`` (metainfo, [T*N, 4, 4])
already contains the image and BEV augmentation and, for past frames, the ego motion.

Ablations drop a branch: without ``implicit`` (explicit only) the LSS volume goes straight
to the decoder; with ``use_lss_volume=False`` (implicit only) LSS still predicts depth
(depth weights, geometric prior, depth loss) but its volume is not used: the voxel queries
start from their positional embedding alone; without ``lss`` nothing geometric is left (the
implicit branch and the decoder must then run without depth weights and the decoder's
pruning without prior).
``fusion`` is needed exactly when both volumes exist. Without any view transform (``lss``,
``implicit`` and ``fusion`` None) and a decoder that starts from zero queries
(``init_from_volume=False``, no prior, no depth weights) the model is plain SparseOcc
(``configs/sparseocc_r50_nuimg_704x256_8f.py``).

Online temporal inference (``test_feature_cache``): at test time each view's image features
are cached by image file (:mod:`models.utils.feature_cache`) and reused by the following
samples, whose past frames are the earlier samples' frames; results are those of encoding
every view.
"""
import inspect

import numpy as np
import torch

from mmdet3d.models.detectors import Base3DDetector
from mmdet3d.registry import MODELS

from core.occ3d import OCC3D_CLASS_NAMES, OccGrid, free_label_of

from ..layers.depth_weighted_sampling import MultiviewImages
from ..utils.feature_cache import ImageFeatureCache, view_keys
from ..utils.warm_start import warm_start


def _default_of(cfg, name):
    """The default of argument ``name`` of the module class that ``cfg`` builds."""
    return inspect.signature(MODELS.get(cfg['type'])).parameters[name].default


def _stack_meta(data_samples, key, device):
    """float32 [B, ...] from a per-sample metainfo array (numpy or tensor)."""
    return torch.stack([torch.as_tensor(np.asarray(s.metainfo[key]), dtype=torch.float32)
                        for s in data_samples]).to(device)


def _stack_field(data_samples, key, device):
    """[B, ...] from a per-sample data field (tensor or numpy), dtype kept."""
    return torch.stack([torch.as_tensor(getattr(s, key)) for s in data_samples]).to(device)


def _same(a, b):
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _with_data_settings(cfg, name, **settings):
    """``cfg`` (a module config dict or None) with the data's ``settings`` set (those not
    None), so that a config states them once.

    Raises:
        ValueError: ``cfg`` sets one of them to another value.
    """
    if cfg is None:
        return None
    cfg = dict(cfg)
    for key, value in settings.items():
        if value is None:
            continue
        if key in cfg and not _same(cfg[key], value):
            raise ValueError(f'{name}.{key}={cfg[key]} differs from the model\'s '
                             f'{key}={value} (the data\'s setting)')
        cfg[key] = value
    return cfg


@MODELS.register_module()
class GDOcc(Base3DDetector):
    """GD-OCC detector (see the module docstring for the data flow).

    Args:
        img_encoder (dict): :class:`ImageEncoder` config; its neck's ``out_channels`` is the
            C shared by all later modules.
        lss (dict or None): :class:`LSSViewTransform` config; its grid is the coarse grid.
        lss_level (int or None): neck level fed to LSS; its stride must be
            ``lss.downsample`` and the stride of the ``gt_depth`` targets. None without LSS.
        stereo_level (int, optional): neck level that LSS's temporal stereo (``lss.stereo``)
            matches between the current frame and the previous one (frame 1); needs
            both, and at least 2 frames.
        implicit (dict or None): :class:`ImplicitViewTransform` config (same coarse grid,
            all ``num_levels`` neck levels).
        fusion (dict or None): :class:`GatedVolumeFusion` config; required when both the
            LSS volume and the implicit volume are used, else None.
        decoder (dict): :class:`SparseVoxelDecoder` config; its coarse grid is the view
            transforms' grid.
        occ_head (dict): :class:`MaskOccHead` config (full grid, the decoder's channel
            groups).
        num_frames (int, optional): T, frames per sample (the dataset config's
            ``num_frames``), handed to the decoder and the head as their ``num_frames`` so
            a config states it once; either may then leave it out or repeat the same value.
            None: the decoder's and the head's own settings.
        occ_grid (dict, optional): the data's voxel grid (the dataset config's ``occ_grid``:
            ``grid_min``, ``voxel_size``, ``grid_shape``), handed on the same terms: the
            decoder's and the head's full grid, the LSS prior's grid, and the view
            transforms' coarse grid, the full grid coarsened ``2 ** decoder.num_stages``
            times. None: Occ3D's.
        class_names (sequence of str, optional): the data's label names, free last (the
            dataset config's ``occ_class_names``): the decoder's and the head's
            ``num_classes`` and the head's ``class_names``. None: Occ3D's.
        num_cams (int): cameras per frame.
        image_sampling (dict, optional): the pixel, visibility and level-weight conventions
            of the decoder's and the head's image sampling (keyword arguments of
            :class:`MultiviewImages`; its defaults are SparseOcc's).
        loss_mask_key (str or None): data field (bool/uint8 [X, Y, Z]) marking the voxels
            whose labels count in the decoder's and the head's losses, e.g.
            ``'mask_camera'``; None (SparseOcc's and the paper's setting) = every voxel.
        use_lss_volume (bool): feed the LSS volume to the implicit queries and the fusion;
            False (implicit-only ablation) keeps LSS for its depth and prior only.
        test_feature_cache (bool): reuse cached image features of views seen by earlier
            samples at inference (needs ``img_path`` in the metainfo; samples without it
            are encoded in full).
        feature_cache_views (int, optional): views the cache keeps (LRU); one sample's
            T * N suffices for consecutive keyframes. None: the views of the largest batch
            seen.
        warm_start (str, optional): checkpoint whose tensors of matching name and shape
            initialise the model after its own initialisation (``init_weights``, i.e. at the
            start of training), e.g. a converted SparseOcc checkpoint for GD-OCC: the log
            lists what loaded and what kept its initialisation
            (:func:`models.utils.warm_start`).
        data_preprocessor (dict, optional): e.g. ``Det3DDataPreprocessor`` with the image
            normalisation; it turns ``inputs['img']`` into ``inputs['imgs']``.
        init_cfg (dict, optional): mmengine initialisation config.
    """

    def __init__(self, img_encoder, decoder, occ_head, lss=None, lss_level=None, implicit=None,
                 fusion=None, stereo_level=None, num_frames=None, occ_grid=None,
                 class_names=None, num_cams=6, image_sampling=None,
                 loss_mask_key=None, use_lss_volume=True,
                 test_feature_cache=False, feature_cache_views=None, warm_start=None,
                 data_preprocessor=None, init_cfg=None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        build = lambda cfg: None if cfg is None else MODELS.build(cfg)  # noqa: E731
        grid = OccGrid.of(occ_grid)
        class_names = tuple(OCC3D_CLASS_NAMES if class_names is None else class_names)
        scale = 2 ** decoder.get('num_stages', _default_of(decoder, 'num_stages'))
        full = grid.as_dict()
        coarse = dict(grid_min=grid.grid_min, voxel_size=grid.voxel_size * scale,
                      grid_shape=tuple(n // scale for n in grid.grid_shape))
        num_classes = free_label_of(class_names)
        lss = _with_data_settings(lss, 'lss', **coarse, prior_grid_shape=grid.grid_shape,
                                  prior_voxel_size=grid.voxel_size)
        implicit = _with_data_settings(implicit, 'implicit', **coarse)
        decoder = _with_data_settings(decoder, 'decoder', num_frames=num_frames, **full,
                                      num_classes=num_classes)
        occ_head = _with_data_settings(occ_head, 'occ_head', num_frames=num_frames, **full,
                                       num_classes=num_classes, class_names=class_names)
        self.img_encoder = MODELS.build(img_encoder)
        self.lss = build(lss)
        self.lss_level = None if lss_level is None else int(lss_level)
        self.stereo_level = None if stereo_level is None else int(stereo_level)
        self.implicit = build(implicit)
        self.fusion = build(fusion)
        self.use_lss_volume = bool(use_lss_volume) and self.lss is not None
        self.decoder = MODELS.build(decoder)
        self.occ_head = MODELS.build(occ_head)
        self.num_cams = int(num_cams)
        self.image_sampling = dict(image_sampling or {})
        self.loss_mask_key = loss_mask_key
        self.test_feature_cache = bool(test_feature_cache)
        self.feature_cache_views = feature_cache_views
        self.feature_cache = None  # built on first cached inference
        self.warm_start = warm_start
        self._check_branches()

    def init_weights(self):
        super().init_weights()
        if self.warm_start is not None:
            warm_start(self, self.warm_start)

    def _check_branches(self):
        """Rejects branch combinations that would silently drop or misread a volume."""
        if self.lss is not None and self.lss_level is None:
            raise ValueError('GDOcc: lss needs lss_level (the neck level it reads)')
        if self.decoder.init_from_volume and not self.use_lss_volume and self.implicit is None:
            raise ValueError('GDOcc: no volume: the decoder starts from a volume '
                             '(init_from_volume) and needs the LSS volume or the implicit '
                             'branch')
        if (self.fusion is not None) != (self.use_lss_volume and self.implicit is not None):
            raise ValueError('GDOcc: fusion must be given exactly when both the LSS volume '
                             'and the implicit volume are used')
        if self.lss is None and getattr(self.implicit, 'use_depth_weight', False):
            raise ValueError('GDOcc: implicit use_depth_weight needs the LSS depth (lss)')
        if self.lss is None and (self.decoder.use_prior or self.decoder.use_depth_weight):
            raise ValueError('GDOcc: decoder use_prior / use_depth_weight need the LSS '
                             'prior and depth (lss)')
        for name, sampler in (('head', self.occ_head), ('implicit branch', self.implicit)):
            if sampler is not None and sampler.num_groups != self.decoder.num_groups:
                raise ValueError(f'GDOcc: the {name} and the decoder sample the same image '
                                 f'layout: their num_groups must be equal')
        if (self.stereo_level is not None) != (getattr(self.lss, 'stereo', None) is not None):
            raise ValueError('GDOcc: stereo_level and lss.stereo go together')

    def train(self, mode=True):
        # Cached features belong to the weights they were computed with: every switch
        # between training and evaluation starts an empty cache.
        if self.feature_cache is not None:
            self.feature_cache.clear()
        return super().train(mode)

    def encode_images(self, imgs, batch_data_samples):
        """Image features of every view; at inference with ``test_feature_cache``, views
        cached by earlier samples are reused and only the others are encoded.

        Args:
            imgs (Tensor): float [B, V, 3, H, W] (normalised), V = T * N frame-major.
            batch_data_samples (list of Det3DDataSample): metainfo ``img_path``,
                ``img_aug`` and ``img_shape`` identify the views (see
                :func:`models.utils.feature_cache.view_keys`).

        Returns:
            list of Tensor: one per neck level, float [B, V, C, H_l, W_l].
        """
        if self.training or not self.test_feature_cache:
            return self.img_encoder(imgs)
        keys = [view_keys(s.metainfo) for s in batch_data_samples]
        if any(k is None for k in keys):
            return self.img_encoder(imgs)
        batch, num_views = imgs.shape[:2]
        keys = [key for sample_keys in keys for key in sample_keys]
        if self.feature_cache is None:
            self.feature_cache = ImageFeatureCache(self.feature_cache_views or len(keys))
        elif self.feature_cache_views is None:
            self.feature_cache.max_views = max(self.feature_cache.max_views, len(keys))
        views = [self.feature_cache.get(key) for key in keys]
        # A view missing from the cache is encoded once, even if the batch holds it twice.
        first = {}
        for index, (key, levels) in enumerate(zip(keys, views)):
            if levels is None:
                first.setdefault(key, index)
        if first:
            encoded = self.img_encoder.encode(imgs.flatten(0, 1)[list(first.values())])
            fresh = {key: [level[j] for level in encoded] for j, key in enumerate(first)}
            for key, levels in fresh.items():
                self.feature_cache.put(key, levels)
            views = [fresh[key] if levels is None else levels
                     for key, levels in zip(keys, views)]
        return [torch.stack([levels[l] for levels in views]).view(
                    batch, num_views, *views[0][l].shape)
                for l in range(len(views[0]))]

    # ------------------------------------------------------------------------ features
    def extract_feat(self, batch_inputs_dict, batch_data_samples):
        """Image features -> sparse voxel set with features, and the head's predictions.

        Args:
            batch_inputs_dict (dict): ``imgs`` float [B, T*N, 3, H, W] (normalised).
            batch_data_samples (list of Det3DDataSample): metainfo ``ego2img``, ``cam2img``,
                ``cam2ego``, ``img_aug`` [T*N, 4, 4] and ``img_shape`` (H, W).

        Returns:
            dict: ``depth`` [B*N, D, h, w] (LSS probabilities; None without LSS),
            ``prior`` [B, 1, X, Y, Z] (the LSS depth mass on the prior grid; None without
            LSS), ``decoder`` (the decoder's output: ``coords`` int64 [B, K, 3] full-grid indices,
            ``feats`` [B, K, C], ``stages``) and ``preds`` (the head's output).
        """
        imgs = batch_inputs_dict['imgs']
        device = imgs.device
        img_shape = tuple(int(v) for v in batch_data_samples[0].metainfo['img_shape'][:2])
        # Samplers map pixels to feature maps through img_shape, and the depth targets have
        # the unpadded size: features of a padded batch would be silently misaligned.
        if tuple(imgs.shape[-2:]) != img_shape:
            raise ValueError(f'GDOcc: images of (H, W) = {img_shape} were padded to '
                             f'{tuple(imgs.shape[-2:])}; use an image size divisible by the '
                             f'data preprocessor\'s pad_size_divisor')
        ego2img = _stack_meta(batch_data_samples, 'ego2img', device)     # [B, T*N, 4, 4]
        cam2img = _stack_meta(batch_data_samples, 'cam2img', device)
        cam2ego = _stack_meta(batch_data_samples, 'cam2ego', device)
        img_aug = _stack_meta(batch_data_samples, 'img_aug', device)

        mlvl_feats = self.encode_images(imgs, batch_data_samples)  # L x [B, T*N, C, H_l, W_l]
        cur = slice(0, self.num_cams)  # frame 0 = current: the only one with depth / LSS
        lss_out = dict(volume=None, prior=None, depth=None)
        if self.lss is not None:
            lss_out = self.lss(mlvl_feats[self.lss_level][:, cur], ego2img[:, cur],
                               cam2img[:, cur], cam2ego[:, cur], img_aug[:, cur],
                               self._stereo_inputs(mlvl_feats, ego2img, img_shape))
        depth_bins = None if self.lss is None else \
            (self.lss.depth_min, self.lss.depth_max, self.lss.depth_step)
        # One layout of the features and the depth for every sampler of this forward.
        images = MultiviewImages(mlvl_feats, ego2img, img_shape, self.num_cams,
                                 self.decoder.num_groups, depth=lss_out['depth'],
                                 depth_bins=depth_bins, **self.image_sampling)
        explicit = lss_out['volume'] if self.use_lss_volume else None
        volume = explicit
        if self.implicit is not None:
            if explicit is None:
                # No explicit volume to start from: the queries are their positional
                # embedding alone (the implicit branch's in_channels must be its C).
                explicit_in = mlvl_feats[0].new_zeros(
                    imgs.shape[0], self.implicit.embed_dims, *self.implicit.grid_shape)
            else:
                explicit_in = explicit
            volume = self.implicit(explicit_in, images)
            if explicit is not None:
                volume = self.fusion(explicit, volume)
        decoded = self.decoder(volume, images, lss_out['prior'])
        preds = self.occ_head(decoded['coords'], decoded['feats'], images)
        return dict(depth=lss_out['depth'], prior=lss_out['prior'], decoder=decoded,
                    preds=preds)

    def _stereo_inputs(self, mlvl_feats, ego2img, img_shape):
        """LSS's ``stereo_inputs`` (current frame against frame 1), or None."""
        if self.stereo_level is None:
            return None
        feats = mlvl_feats[self.stereo_level]
        if feats.shape[1] < 2 * self.num_cams:
            raise ValueError(f'GDOcc: temporal stereo needs a past frame, got '
                             f'{feats.shape[1]} views for {self.num_cams} cameras')
        cur, past = slice(0, self.num_cams), slice(self.num_cams, 2 * self.num_cams)
        return dict(current=feats[:, cur], past=feats[:, past], past_ego2img=ego2img[:, past],
                    stride=img_shape[1] // feats.shape[-1], img_shape=img_shape)

    def _forward(self, batch_inputs_dict, batch_data_samples=None):
        """Raw head outputs (``tensor`` mode): the head's ``forward`` dict plus ``coords``."""
        out = self.extract_feat(batch_inputs_dict, batch_data_samples)
        return dict(out['preds'], coords=out['decoder']['coords'])

    # ------------------------------------------------------------------------- training
    def loss(self, batch_inputs_dict, batch_data_samples, **kwargs):
        """
        Args:
            batch_inputs_dict (dict): ``imgs`` float [B, T*N, 3, H, W].
            batch_data_samples (list of Det3DDataSample): besides the metainfo of
                :meth:`extract_feat`, data fields ``gt_occ_sem`` uint8 [200, 200, 16]
                (17 = free), ``gt_depth`` float [N, h, w] (metres at the LSS stride, 0 =
                none), the ``loss_mask_key`` field when set and, for panoptic heads,
                ``gt_occ_inst``.

        Returns:
            dict: ``loss_depth``, the decoder's per-stage losses (``loss_ce_s{s}``, ...) and
            the head's (``loss_cls``, ``loss_mask``, ``loss_dice`` and ``d{i}.`` copies).
        """
        device = batch_inputs_dict['imgs'].device
        out = self.extract_feat(batch_inputs_dict, batch_data_samples)
        gt_sem = _stack_field(batch_data_samples, 'gt_occ_sem', device)  # [B, X, Y, Z]
        gt_inst = None
        if self.occ_head.panoptic and all('gt_occ_inst' in s for s in batch_data_samples):
            gt_inst = _stack_field(batch_data_samples, 'gt_occ_inst', device)
        valid = None
        if self.loss_mask_key is not None:
            valid = _stack_field(batch_data_samples, self.loss_mask_key, device).bool()

        losses = {}
        if self.lss is not None:
            gt_depth = _stack_field(batch_data_samples, 'gt_depth', device).float()
            losses.update(self.lss.loss(out['depth'], gt_depth))
        losses.update(self.decoder.loss(out['decoder']['stages'], gt_sem, valid))
        losses.update(self.occ_head.loss(out['preds'], out['decoder']['coords'], gt_sem,
                                         gt_inst, valid))
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
        results = self.occ_head.predict(out['preds'], out['decoder']['coords'])
        for sample, result in zip(batch_data_samples, results):
            for key, value in result.items():
                setattr(sample, key, value.cpu().numpy())
        return batch_data_samples
