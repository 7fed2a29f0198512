# Ablation: no geometry guidance. The implicit queries' image samples are not weighted by
# the predicted depth probability (plain deformable sampling), and the sparse voxel
# proposal scores voxels from the fused volume alone, without the LSS depth-mass prior.
# The LSS branch itself (its volume, depth supervision) stays: only the geometric cues
# shared with the other stages are removed.
_base_ = ['./r50_nuimg_704x256_8f.py']

model = dict(implicit=dict(use_depth_weight=False), proposal=dict(use_prior=False))
