# GD-OCC, the paper setting on Occ3D-nuScenes (SparseOcc's R50 704x256 8-frame setting).
#
# Model: _base_/models/gdocc.py (ResNet-50 + FPN from the nuImages checkpoint, LSS + voxel
#   queries + gated fusion on a 25 x 25 x 2 grid, SparseOcc's 3-stage sparse voxel decoder
#   with GSVP, SparseOcc's mask head); below, what it takes from the data.
# Schedule (SparseOcc's): AdamW, lr 5e-4 (backbone and decoder offsets x0.1), weight decay
#   0.01, gradient clipping at 35, 500-iteration linear warm-up, x0.2 at epoch 22 of 24,
#   total batch 8 (8 GPUs x 1), float32 (AMP: `optim_wrapper.type='AmpOptimWrapper'`).
#
# Train: torchrun --nproc_per_node 8 train.py --config configs/r50_nuimg_704x256_8f.py
# Ablations: r50_nuimg_704x256_8f_{explicit_only,implicit_only,no_geometry,no_refine,
# zero_init,dense}.py; 60 epochs: r50_nuimg_704x256_8f_60e.py; panoptic (RayPQ):
# r50_nuimg_704x256_8f_panoptic.py.
_base_ = ['./_base_/datasets/occ3d_nuscenes.py', './_base_/models/gdocc.py',
          './_base_/occ3d_evaluation.py', './_base_/default_runtime.py']

# The model's part of the data: frames, grid, class names and frequencies, image
# normalisation.
model = dict(
    num_frames={{_base_.num_frames}},
    occ_grid={{_base_.occ_grid}},
    class_names={{_base_.occ_class_names}},
    data_preprocessor=dict(mean={{_base_.img_norm_cfg.mean}}, std={{_base_.img_norm_cfg.std}},
                           bgr_to_rgb={{_base_.img_norm_cfg.bgr_to_rgb}}),
    decoder=dict(loss_ce=dict(class_frequencies={{_base_.occ_class_frequencies}})))

# Total batch over all processes; train.py divides it by the world size. batch_size below
# is the per-process value of the paper's 8 GPUs.
total_batch_size = 8
train_dataloader = dict(batch_size=1)

max_epochs = 24
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=5e-4, weight_decay=0.01),
    # The pretrained backbone and the decoder's sampling offsets move slowly. SparseOcc's
    # key `sampling_offset` misses its head's offsets (named `offset`), which therefore
    # train at the full rate; its checkpoints were trained so, and so are these.
    paramwise_cfg=dict(custom_keys={'img_encoder.backbone': dict(lr_mult=0.1),
                                    'sampling.sampling_offsets': dict(lr_mult=0.1)}),
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
