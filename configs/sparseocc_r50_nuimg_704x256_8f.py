# SparseOcc v1.1 (Liu et al., ECCV 2024), R50 704x256 8 frames 24 epochs, built from this
# codebase's modules: the GD-OCC paper config without its geometric blocks. No view transform
# (the decoder starts from zero queries on the 25 x 25 x 2 grid), pruning by occupancy alone,
# no depth weighting, no depth supervision; the encoder, decoder, head, losses, sampling
# conventions and schedule are SparseOcc's (the modules' defaults).
#
# SparseOcc's released checkpoints load after conversion (docs/sparseocc_parity.md):
#   python tools/convert_sparseocc.py sparseocc_r50_nuimg_704x256_8f_24e_v1.1.pth converted.pth
#   torchrun --nproc_per_node 8 val.py --config configs/sparseocc_r50_nuimg_704x256_8f.py \
#       --weights converted.pth
_base_ = ['./r50_nuimg_704x256_8f.py']

model = dict(
    lss=None, lss_level=None, implicit=None, fusion=None,
    decoder=dict(init_from_volume=False, use_prior=False, use_depth_weight=False))

# Without LSS there is no depth to supervise: the LiDAR depth targets are not loaded.
train_pipeline = dict(depth_target=None)
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
