# Toy baseline: SparseOcc itself at the toy sizes (configs/sparseocc_r50_nuimg_704x256_8f.py's
# model overrides on configs/toy_gdocc.py): no view transform, the decoder starts from zero
# queries, pruning by occupancy alone, no depth weighting, no depth loss. GD-OCC's toy figures
# compare against it.
_base_ = ['./toy_gdocc.py']

model = dict(
    lss=None, lss_level=None, stereo_level=None, implicit=None, fusion=None,
    decoder=dict(init_from_volume=False, use_prior=False, use_depth_weight=False))
