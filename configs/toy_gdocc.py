# GD-OCC at toy scale: the toy nuScenes world (288 x 160 images, 2 frames) with a tiny
# model (ResNet-18 from scratch, C = 32, 25 x 25 x 2 coarse grid -> 200 x 200 x 16 in 3
# decoder stages, temporal stereo depth) that trains on CPU.
_base_ = ['./_base_/datasets/toy_nuscenes.py', './_base_/occ3d_evaluation.py',
          './_base_/default_runtime.py']

num_cams = 6
num_frames = {{_base_.num_frames}}
embed_dims = 32
grid_min = (-40.0, -40.0, -1.0)       # Occ3D range, metres, augmented current ego
grid_shape = (200, 200, 16)           # full grid, 0.4 m
voxel_size = 0.4
coarse_shape = (25, 25, 2)            # grid_shape / 2 ** 3 (3 decoder stages)
coarse_voxel = 3.2                    # voxel_size * 2 ** 3
depth_bins = (1.0, 45.0, 0.5)         # 88 bins (the paper's): the fine prior needs sub-voxel depth
num_feat_levels = 3                   # FPN outputs at strides 8, 16, 32
lss_level = 1                         # stride 16 = the LiDARDepthTarget stride

model = dict(
    type='GDOcc',
    num_cams=num_cams,
    lss_level=lss_level,
    # The DepthNet also matches each camera against its previous frame (ego motion as a
    # stereo baseline): monocular depth of objects is what a from-scratch encoder learns
    # last (median error 3.4 m above the ground after 5 epochs without, 2.8 m with; 0.2-0.4 m
    # on the ground either way).
    stereo_level=lss_level,
    data_preprocessor=dict(type='Det3DDataPreprocessor', mean={{_base_.img_norm_cfg.mean}},
                           std={{_base_.img_norm_cfg.std}},
                           bgr_to_rgb={{_base_.img_norm_cfg.bgr_to_rgb}},
                           pad_size_divisor=32),
    img_encoder=dict(
        type='ImageEncoder', num_cams=num_cams, num_grad_frames=num_frames,
        # From scratch: no frozen stages, BN trains (every parameter must learn).
        # Half-width ResNet-18 (base_channels 32): a quarter of the FLOPs, enough for the
        # toy world's flat-shaded boxes.
        backbone=dict(type='mmdet.ResNet', depth=18, base_channels=32, num_stages=4,
                      out_indices=(1, 2, 3), frozen_stages=-1,
                      norm_cfg=dict(type='BN', requires_grad=True), norm_eval=False,
                      style='pytorch', with_cp=False, init_cfg=None),
        neck=dict(type='mmdet.FPN', in_channels=[64, 128, 256], out_channels=embed_dims,
                  num_outs=num_feat_levels)),
    lss=dict(
        type='LSSViewTransform', in_channels=embed_dims, context_channels=embed_dims,
        depth_bins=depth_bins, grid_min=grid_min, grid_shape=coarse_shape,
        voxel_size=coarse_voxel, downsample=16, mid_channels=embed_dims,
        mlp_hidden_dims=(32,),
        # Geometric prior on the full grid from depth upsampled to stride 8 (a 0.4 m voxel
        # at 10 m spans about 8 px of a 288-px-wide image).
        prior_grid_shape=grid_shape, prior_voxel_size=voxel_size, prior_upsample=2,
        stereo=dict(type='TemporalStereoCost', in_channels=embed_dims, num_groups=4,
                    mid_channels=embed_dims),
        loss_depth=dict(type='DepthLoss', depth_bound=depth_bins, loss_weight=3.0)),
    implicit=dict(
        type='ImplicitViewTransform', embed_dims=embed_dims, grid_min=grid_min,
        grid_shape=coarse_shape, voxel_size=coarse_voxel, num_points=4,
        num_levels=num_feat_levels, num_groups=4, offset_range=coarse_voxel,
        depth_bins=depth_bins, num_cams=num_cams, use_depth_weight=True),
    fusion=dict(type='GatedVolumeFusion', channels=embed_dims, kernel_size=3),
    # The paper's decoder and head at C = 32 (2 heads, FFN 64) and toy budgets.
    decoder=dict(
        type='SparseVoxelDecoder', embed_dims=embed_dims, num_frames=num_frames,
        num_levels=num_feat_levels, num_heads=2, ffn_dims=64, attn_chunk_size=512,
        topk_train=(4000, 12000, 32000), topk_test=(4000, 12000, 32000),
        loss_ce=dict(type='CountCrossEntropyLoss',
                     class_frequencies={{_base_.occ_class_frequencies}})),
    occ_head=dict(
        type='MaskOccHead', embed_dims=embed_dims, num_queries=20, num_frames=num_frames,
        num_levels=num_feat_levels, num_heads=2, mixing_out_points=32, ffn_dims=64,
        # Half of the toy's kept voxels are free (solid buildings: the prior keeps visible
        # surfaces and the space in front of them), and 12 CPU epochs leave soft masks:
        # SparseOcc's 0.01 labels almost every kept voxel. Epoch-8 demo checkpoint, 5 val
        # samples: RayIoU 0.026 / 0.073 / 0.093 / 0.092 at 0.01 / 0.1 / 0.3 / 0.4.
        free_threshold=0.3, class_names={{_base_.occ_class_names}}))

# About 24 min on two CPU cores (`make demo`, two processes of one thread): 12 epochs of
# the 80 training samples (13 took 26 min, which left the whole demo at its 30-minute
# budget on a fresh machine).
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-2),
    paramwise_cfg=dict(custom_keys={'sampling_offsets': dict(lr_mult=0.1)}),
    clip_grad=dict(max_norm=35, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=50),
    dict(type='MultiStepLR', milestones=[10], by_epoch=True, gamma=0.2)]
train_cfg = dict(by_epoch=True, max_epochs=12, val_interval=4)
val_cfg = dict()
test_cfg = dict()

default_hooks = dict(logger=dict(interval=10), checkpoint=dict(max_keep_ckpts=-1))
# Every parameter receives a gradient every step (tests/models/test_gdocc_detector.py).
find_unused_parameters = False
