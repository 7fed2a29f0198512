# Toy ablation: the explicit (LSS) view transformation only: no implicit voxel queries, hence
# no fusion. Depth supervision, prior, depth weights, decoder and head stay.
_base_ = ['./toy_gdocc.py']

model = dict(implicit=None, fusion=None)
