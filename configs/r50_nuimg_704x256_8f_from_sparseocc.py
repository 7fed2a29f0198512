# GD-OCC, the paper setting, warm-started from SparseOcc v1.1 instead of the nuImages
# encoder: the encoder, sparse voxel decoder and mask head (the blocks GD-OCC shares with
# SparseOcc) start from a converted SparseOcc checkpoint, GD-OCC's own blocks (LSS, voxel
# queries, fusion) from their initialisation; the log lists both at the start of training.
#
#   python tools/convert_sparseocc.py sparseocc_r50_nuimg_704x256_8f_24e_v1.1.pth \
#       pretrain/sparseocc_r50_nuimg_704x256_8f_24e_v1.1_converted.pth
#   torchrun --nproc_per_node 8 train.py --config configs/r50_nuimg_704x256_8f_from_sparseocc.py
_base_ = ['./r50_nuimg_704x256_8f.py']

model = dict(
    warm_start='pretrain/sparseocc_r50_nuimg_704x256_8f_24e_v1.1_converted.pth',
    # The converted checkpoint holds the encoder: the nuImages weights are not read.
    img_encoder=dict(init_cfg=None))
