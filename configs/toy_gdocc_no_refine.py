# Toy ablation: no per-stage refinement. The decoder lifts and prunes from coarse to fine
# without sampling the images between stages; the head still samples them.
_base_ = ['./toy_gdocc.py']

model = dict(decoder=dict(refine=False))
