# Ablation: SparseOcc's start. The decoder's first stage starts from zero queries instead
# of the fused GVT volume; no implicit branch is built (its volume would go nowhere). LSS
# stays for the depth weights, the prior and the depth loss; its volume path then gets no
# gradient, hence find_unused_parameters for DDP.
_base_ = ['./r50_nuimg_704x256_8f.py']

model = dict(implicit=None, fusion=None, decoder=dict(init_from_volume=False))
find_unused_parameters = True
