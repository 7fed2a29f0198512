# Ablation: implicit view transformation only. The LSS volume is not used: the voxel
# queries start from their positional embedding alone and their volume goes straight to
# the decoder (no fusion). The LSS DepthNet is kept, with its depth supervision, because
# the geometry lives there: its depth probabilities weight the image samples and its
# accumulated mass is the pruning's geometric prior. Dropping it too would conflate this
# ablation with `_no_geometry`.
# The DepthNet's context path (context MLP, gate and head) then feeds nothing and gets no
# gradient, hence find_unused_parameters for DDP.
_base_ = ['./r50_nuimg_704x256_8f.py']

model = dict(use_lss_volume=False, fusion=None)
find_unused_parameters = True
