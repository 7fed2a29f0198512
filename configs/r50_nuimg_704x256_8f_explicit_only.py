# Ablation: explicit view transformation only. The LSS volume goes straight to the sparse
# voxel decoder: no implicit voxel queries, hence no fusion. Everything else (depth
# supervision, geometric prior, depth weights, decoder, head, schedule) is the paper's.
_base_ = ['./r50_nuimg_704x256_8f.py']

model = dict(implicit=None, fusion=None)
