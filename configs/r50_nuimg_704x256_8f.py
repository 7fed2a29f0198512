# GD-OCC, the paper setting on Occ3D-nuScenes (SparseOcc's R50 704x256 8-frame setting).
#
# Model: mmdet ResNet-50 + FPN (strides 4, 8, 16, 32; C = 256) initialised from the
#   nuImages Cascade Mask R-CNN R50 checkpoint (`pretrained` below: its `backbone.*` and
#   `neck.*` keys are the encoder's own submodule names, so the encoder's Pretrained
#   init_cfg loads them without renaming; the detector heads' keys are ignored). Stage 1
#   frozen, BatchNorm statistics frozen (norm_eval), activation checkpointing `with_cp`.
#   Past frames are encoded without gradient.
# GVT: explicit LSS on the stride-16 level, 88 depth bins over 1-45 m (0.5 m, BEVDet /
#   SparseOcc), splatted into a 25 x 25 x 2 coarse grid (3.2 m voxels); implicit voxel
#   queries on that grid sampling all 4 levels of all 8 frames, depth-weighted; gated fusion.
# GSVP: coarse-to-fine 25x25x2 -> 50x50x4 -> 100x100x8 -> 200x200x16 (4 levels). All
#   1250 coarse voxels are kept (SparseOcc starts from the full 25 x 25 x 2 grid), then
#   SparseOcc's top-k per finer level: 4000 / 16000 / 64000 in training, 2000 / 8000 /
#   32000 at test time.
# Decoder: sparse voxel self-attention + multi-view sampling on the compiled op; head:
#   mask transformer with 100 queries, 18 labels (17 classes + free).
# Schedule: AdamW, lr 5e-4 (backbone x0.1), weight decay 0.01, gradient clipping at 35,
#   500-iteration linear warm-up, x0.1 steps at epochs 20 and 23, 24 epochs, total batch 8
#   (8 GPUs x 1), mixed precision (AmpOptimWrapper: GPU).
# Inference: online temporal (SparseOcc-style): image features of frames already seen are
#   cached and reused (test_feature_cache), same results as encoding every frame.
#
# Train: torchrun --nproc_per_node 8 train.py --config configs/r50_nuimg_704x256_8f.py
# Ablations: r50_nuimg_704x256_8f_{explicit_only,implicit_only,no_geometry,dense}.py;
# panoptic (RayPQ): r50_nuimg_704x256_8f_panoptic.py.
_base_ = ['./_base_/datasets/occ3d_nuscenes.py', './_base_/occ3d_evaluation.py',
          './_base_/default_runtime.py']

pretrained = 'pretrain/cascade_mask_rcnn_r50_fpn_coco-20e_20e_nuim_20201009_124951-40963960.pth'
with_cp = True                        # activation checkpointing in the ResNet blocks

num_cams = 6
embed_dims = 256
num_classes = 17                      # non-free Occ3D classes; 17 = free
grid_min = (-40.0, -40.0, -1.0)       # Occ3D range, metres, augmented current ego
grid_shape = (200, 200, 16)           # full grid, 0.4 m
voxel_size = 0.4
num_proposal_levels = 4
coarse_shape = (25, 25, 2)            # grid_shape / 2 ** (num_proposal_levels - 1)
coarse_voxel = 3.2                    # voxel_size * 2 ** (num_proposal_levels - 1)
depth_bins = (1.0, 45.0, 0.5)         # 88 bins; the LiDARDepthTarget range of the base
num_feat_levels = 4                   # FPN outputs at strides 4, 8, 16, 32
lss_level = 2                         # stride 16 = the LiDARDepthTarget stride
num_views = 48                        # 8 frames x 6 cameras: the feature cache's size

model = dict(
    type='GDOcc',
    num_cams=num_cams,
    lss_level=lss_level,
    use_occ_scores=False,
    test_feature_cache=True,
    feature_cache_views=num_views,
    data_preprocessor=dict(type='Det3DDataPreprocessor', mean={{_base_.img_norm_cfg.mean}},
                           std={{_base_.img_norm_cfg.std}},
                           bgr_to_rgb={{_base_.img_norm_cfg.bgr_to_rgb}},
                           pad_size_divisor=32),
    img_encoder=dict(
        type='ImageEncoder', num_cams=num_cams, num_grad_frames=1,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained),
        backbone=dict(type='mmdet.ResNet', depth=50, num_stages=4, out_indices=(0, 1, 2, 3),
                      frozen_stages=1, norm_cfg=dict(type='BN', requires_grad=True),
                      norm_eval=True, style='pytorch', with_cp=with_cp, init_cfg=None),
        neck=dict(type='mmdet.FPN', in_channels=[256, 512, 1024, 2048],
                  out_channels=embed_dims, num_outs=num_feat_levels)),
    lss=dict(
        type='LSSViewTransform', in_channels=embed_dims, context_channels=embed_dims,
        depth_bins=depth_bins, grid_min=grid_min, grid_shape=coarse_shape,
        voxel_size=coarse_voxel, downsample=16, mid_channels=embed_dims,
        mlp_hidden_dims=(embed_dims,),
        # Geometric prior on the full grid, from depth upsampled to stride 4 (dense enough
        # for 0.4 m voxels over the Occ3D range at 704 x 256).
        prior_grid_shape=grid_shape, prior_voxel_size=voxel_size, prior_upsample=4,
        loss_depth=dict(type='DepthLoss', depth_bound=depth_bins, loss_weight=3.0)),
    implicit=dict(
        type='ImplicitViewTransform', embed_dims=embed_dims, grid_min=grid_min,
        grid_shape=coarse_shape, voxel_size=coarse_voxel, num_points=4,
        num_levels=num_feat_levels, num_groups=4, offset_range=coarse_voxel,
        depth_bins=depth_bins, num_cams=num_cams, use_depth_weight=True),
    fusion=dict(type='GatedVolumeFusion', channels=embed_dims, kernel_size=3),
    proposal=dict(
        type='SparseVoxelProposal', in_channels=embed_dims, embed_dims=embed_dims,
        grid_shape=grid_shape, num_levels=num_proposal_levels,
        topk_train=(1250, 4000, 16000, 64000), topk_test=(1250, 2000, 8000, 32000),
        score_hidden_dims=64, prior_eps=1e-4, use_prior=True,
        loss_occ=dict(type='mmdet.CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)),
    decoder=dict(
        type='SparseVoxelDecoder', embed_dims=embed_dims, num_layers=4, num_heads=8,
        ffn_dims=2 * embed_dims, num_points=4, num_feat_levels=num_feat_levels,
        grid_min=grid_min, grid_shape=grid_shape, voxel_size=voxel_size, window_size=8,
        chunk_size=512, offset_range=2 * voxel_size, dropout=0.0,
        sampler=dict(type='CompiledMultiviewSampler', num_cams=num_cams)),
    occ_head=dict(
        type='MaskOccHead', num_classes=num_classes, embed_dims=embed_dims,
        num_queries=100, num_layers=3, num_heads=8, ffn_dims=2 * embed_dims, dropout=0.0,
        grid_min=grid_min, grid_shape=grid_shape, voxel_size=voxel_size,
        free_label=num_classes, attn_mask_threshold=0.5, score_threshold=0.3,
        occ_threshold=None,
        # bicycle, bus, car, construction_vehicle, motorcycle, pedestrian, trailer, truck
        thing_classes=(2, 3, 4, 5, 6, 7, 9, 10), panoptic=False,
        match_cost=dict(cls=2.0, mask=5.0, dice=5.0),
        loss_cls=dict(type='mmdet.CrossEntropyLoss', use_sigmoid=False, loss_weight=2.0,
                      reduction='mean', class_weight=[1.0] * num_classes + [0.1]),
        loss_mask=dict(type='mmdet.CrossEntropyLoss', use_sigmoid=True, reduction='mean',
                       loss_weight=5.0),
        loss_dice=dict(type='mmdet.DiceLoss', use_sigmoid=True, activate=True,
                       reduction='mean', naive_dice=True, eps=1.0, loss_weight=5.0),
        loss_lovasz=dict(type='LovaszSoftmaxLoss', loss_weight=1.0),
        loss_geo_scal=dict(type='GeoScalLoss', free_label=num_classes, loss_weight=1.0),
        loss_sem_scal=dict(type='SemScalLoss', free_label=num_classes, loss_weight=1.0)))

# Total batch over all processes; train.py divides it by the world size. batch_size below
# is the per-process value of the paper's 8 GPUs.
total_batch_size = 8
train_dataloader = dict(batch_size=1)

max_epochs = 24
optim_wrapper = dict(
    type='AmpOptimWrapper', loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=5e-4, weight_decay=0.01),
    # The pretrained backbone moves slowly; the neck and everything new train at full lr.
    paramwise_cfg=dict(custom_keys={'img_encoder.backbone': dict(lr_mult=0.1)}),
    clip_grad=dict(max_norm=35, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=1.0 / 3, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=max_epochs, milestones=[20, 23],
         gamma=0.1),
]
# Validation (RayIoU over the 6019 val samples) at the end of training.
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict()
test_cfg = dict()

# Every trainable parameter receives a gradient every step.
find_unused_parameters = False
