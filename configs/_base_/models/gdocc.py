# GD-OCC, the model of the paper setting (SparseOcc's R50 704x256 8-frame setting). The
# modules' defaults are this setting, so this file names only the choices a module cannot
# know (backbone, branches, the pretrained checkpoint); configs change what differs.
#
# Encoder: mmdet ResNet-50 + FPN (strides 4, 8, 16, 32; C = 256) initialised from the
#   nuImages Cascade Mask R-CNN R50 checkpoint (`pretrained`: its `backbone.*` and `neck.*`
#   keys are the encoder's own submodule names, so the encoder's Pretrained init_cfg loads
#   them without renaming; the detector heads' keys are ignored). Stage 1 frozen, BatchNorm
#   statistics frozen (norm_eval), activation checkpointing `with_cp`. Every frame is
#   encoded with gradient (SparseOcc; a smaller num_grad_frames stops it for past frames).
# GVT: explicit LSS on the stride-16 level (lss_level 2), 88 depth bins over 1-45 m (0.5 m,
#   BEVDet / SparseOcc), splatted into a 25 x 25 x 2 coarse grid (3.2 m voxels); its
#   geometric prior on the full 200 x 200 x 16 grid from depth upsampled to stride 4 (dense
#   enough for 0.4 m voxels over the Occ3D range at 704 x 256); implicit voxel queries on
#   the coarse grid sampling all 4 levels of all frames, depth-weighted; gated fusion.
# Sparse voxel decoder (SparseOcc's, 3 stages 25x25x2 -> 50x50x4 -> 100x100x8 ->
#   200x200x16) started from the fused GVT volume; GSVP prunes each stage's children by
#   occupancy and the LSS depth-mass prior; top-k 4000 / 16000 / 64000 in training, 2000 /
#   8000 / 32000 at test time. Head: SparseOcc's mask transformer, 100 queries, 2 layers.
# Inference: online temporal (SparseOcc-style): image features of frames already seen are
#   cached and reused (test_feature_cache), same results as encoding every frame; the cache
#   holds the views of the largest batch seen, enough for consecutive keyframes.
#
# The data's part (frames, grid, class names and frequencies, image normalisation) comes from
# the dataset base through the complete configs (see r50_nuimg_704x256_8f.py): GDOcc hands
# the grid to the decoder and head (full grid), to LSS's prior (full grid) and to the view
# transforms (the coarse grid, 2 ** num_stages coarser).
pretrained = 'pretrain/cascade_mask_rcnn_r50_fpn_coco-20e_20e_nuim_20201009_124951-40963960.pth'

model = dict(
    type='GDOcc',
    lss_level=2,
    test_feature_cache=True,
    data_preprocessor=dict(type='Det3DDataPreprocessor', pad_size_divisor=32),
    img_encoder=dict(
        type='ImageEncoder',
        init_cfg=dict(type='Pretrained', checkpoint=pretrained),
        backbone=dict(type='mmdet.ResNet', depth=50, num_stages=4, out_indices=(0, 1, 2, 3),
                      frozen_stages=1, norm_cfg=dict(type='BN', requires_grad=True),
                      norm_eval=True, style='pytorch', with_cp=True, init_cfg=None),
        neck=dict(type='mmdet.FPN', in_channels=[256, 512, 1024, 2048], out_channels=256,
                  num_outs=4)),
    lss=dict(type='LSSViewTransform', prior_upsample=4),
    implicit=dict(type='ImplicitViewTransform'),
    fusion=dict(type='GatedVolumeFusion'),
    decoder=dict(type='SparseVoxelDecoder', loss_ce=dict(type='CountCrossEntropyLoss')),
    occ_head=dict(type='MaskOccHead'))
