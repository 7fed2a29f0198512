# Ablation: no per-stage refinement. The decoder lifts and prunes from coarse to fine
# without looking at the images between stages (each voxel is its position-encoded feature,
# lifted to its children), as this project's first proposal did; the head still samples
# the images.
_base_ = ['./r50_nuimg_704x256_8f.py']

model = dict(decoder=dict(refine=False))
