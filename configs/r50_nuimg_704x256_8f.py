# GD-OCC, the paper setting on Occ3D-nuScenes (SparseOcc's R50 704x256 8-frame setting).
#
# Model: mmdet ResNet-50 + FPN (strides 4, 8, 16, 32; C = 256) initialised from the
#   nuImages Cascade Mask R-CNN R50 checkpoint (`pretrained` below: its `backbone.*` and
#   `neck.*` keys are the encoder's own submodule names, so the encoder's Pretrained
#   init_cfg loads them without renaming; the detector heads' keys are ignored). Stage 1
#   frozen, BatchNorm statistics frozen (norm_eval), activation checkpointing `with_cp`.
#   Every frame is encoded with gradient (SparseOcc; num_grad_frames=1 stops it).
# GVT: explicit LSS on the stride-16 level, 88 depth bins over 1-45 m (0.5 m, BEVDet /
#   SparseOcc), splatted into a 25 x 25 x 2 coarse grid (3.2 m voxels); implicit voxel
#   queries on that grid sampling all 4 levels of all 8 frames, depth-weighted; gated fusion.
# Sparse voxel decoder (SparseOcc's, 3 stages 25x25x2 -> 50x50x4 -> 100x100x8 ->
#   200x200x16) started from the fused GVT volume; GSVP prunes each stage's children by
#   occupancy and the LSS depth-mass prior; top-k 4000 / 16000 / 64000 in training, 2000 /
#   8000 / 32000 at test time. Head: SparseOcc's mask transformer, 100 queries, 2 layers.
# Schedule (SparseOcc's): AdamW, lr 5e-4 (backbone and sampling offsets x0.1), weight decay
#   0.01, gradient clipping at 35, 500-iteration linear warm-up, x0.2 at epoch 22 of 24,
#   total batch 8 (8 GPUs x 1), float32 (AMP: `optim_wrapper.type='AmpOptimWrapper'`).
# Inference: online temporal (SparseOcc-style): image features of frames already seen are
#   cached and reused (test_feature_cache), same results as encoding every frame.
#
# Train: torchrun --nproc_per_node 8 train.py --config configs/r50_nuimg_704x256_8f.py
# Ablations: r50_nuimg_704x256_8f_{explicit_only,implicit_only,no_geometry,no_refine,
# zero_init,dense}.py; 60 epochs: r50_nuimg_704x256_8f_60e.py; panoptic (RayPQ):
# r50_nuimg_704x256_8f_panoptic.py.
_base_ = ['./_base_/datasets/occ3d_nuscenes.py', './_base_/occ3d_evaluation.py',
          './_base_/default_runtime.py']

pretrained = 'pretrain/cascade_mask_rcnn_r50_fpn_coco-20e_20e_nuim_20201009_124951-40963960.pth'
with_cp = True                        # activation checkpointing in the ResNet blocks

num_cams = 6
num_frames = {{_base_.num_frames}}
embed_dims = 256
grid_min = (-40.0, -40.0, -1.0)       # Occ3D range, metres, augmented current ego
grid_shape = (200, 200, 16)           # full grid, 0.4 m
voxel_size = 0.4
coarse_shape = (25, 25, 2)            # grid_shape / 2 ** 3 (3 decoder stages)
coarse_voxel = 3.2                    # voxel_size * 2 ** 3
depth_bins = (1.0, 45.0, 0.5)         # 88 bins; the LiDARDepthTarget range of the base
num_feat_levels = 4                   # FPN outputs at strides 4, 8, 16, 32
lss_level = 2                         # stride 16 = the LiDARDepthTarget stride

model = dict(
    type='GDOcc',
    num_cams=num_cams,
    lss_level=lss_level,
    # The feature cache holds the views of the largest batch seen (8 frames x 6 cameras
    # per sample), enough for consecutive keyframes.
    test_feature_cache=True,
    data_preprocessor=dict(type='Det3DDataPreprocessor', mean={{_base_.img_norm_cfg.mean}},
                           std={{_base_.img_norm_cfg.std}},
                           bgr_to_rgb={{_base_.img_norm_cfg.bgr_to_rgb}},
                           pad_size_divisor=32),
    img_encoder=dict(
        type='ImageEncoder', num_cams=num_cams, num_grad_frames=num_frames,
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
    # SparseVoxelDecoder's and MaskOccHead's defaults are this setting; the configs name
    # what depends on the data (frames, class frequencies, class names).
    decoder=dict(
        type='SparseVoxelDecoder', num_frames=num_frames,
        loss_ce=dict(type='CountCrossEntropyLoss',
                     class_frequencies={{_base_.occ_class_frequencies}})),
    occ_head=dict(type='MaskOccHead', num_frames=num_frames,
                  class_names={{_base_.occ_class_names}}))

# Total batch over all processes; train.py divides it by the world size. batch_size below
# is the per-process value of the paper's 8 GPUs.
total_batch_size = 8
train_dataloader = dict(batch_size=1)

max_epochs = 24
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=5e-4, weight_decay=0.01),
    # The pretrained backbone and the sampling offsets move slowly (SparseOcc).
    paramwise_cfg=dict(custom_keys={'img_encoder.backbone': dict(lr_mult=0.1),
                                    'sampling_offsets': dict(lr_mult=0.1)}),
    clip_grad=dict(max_norm=35, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=1.0 / 3, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=max_epochs, milestones=[22],
         gamma=0.2),
]
# Validation (RayIoU over the 6019 val samples) at the end of training.
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict()
test_cfg = dict()

# Every trainable parameter receives a gradient every step.
find_unused_parameters = False
