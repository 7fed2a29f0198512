# Ablation: no sparse pruning. Every stage keeps all 8 children of every voxel (25x25x2 ->
# 50x50x4 -> 100x100x8 -> 200x200x16 in full), so the later stages and the head run on the
# whole 640,000-voxel grid: 10x the voxels of training (20x at test time), a large-memory
# GPU setting, as the dense baselines are.
_base_ = ['./r50_nuimg_704x256_8f.py']

all_children = (10000, 80000, 640000)
model = dict(decoder=dict(topk_train=all_children, topk_test=all_children))
