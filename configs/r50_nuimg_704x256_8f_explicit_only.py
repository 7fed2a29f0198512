# Ablation: explicit view transformation only. The LSS volume goes straight to the sparse
# voxel proposal: no implicit voxel queries, hence no fusion. Everything else (depth
# supervision, geometric prior, decoder, head, schedule) is the paper config's.
_base_ = ['./r50_nuimg_704x256_8f.py']

model = dict(implicit=None, fusion=None)
