# Ablation: no geometry guidance. No image sample is weighted by the predicted depth
# probability (implicit queries and decoder stages sample plainly), and the decoder prunes
# by predicted occupancy alone, without the LSS depth-mass prior (SparseOcc's rule). The
# LSS branch itself (its volume, depth supervision) stays: only the geometric cues shared
# with the other stages are removed.
_base_ = ['./r50_nuimg_704x256_8f.py']

model = dict(implicit=dict(use_depth_weight=False),
             decoder=dict(use_depth_weight=False, use_prior=False))
