# Ablation: no sparse voxel proposal. Every level keeps all of its voxels (top-k = the
# level's size: 25x25x2, 50x50x4, 100x100x8, 200x200x16), so the decoder and the head run
# on the full 640,000-voxel grid; the proposal's scorers are still trained by their
# occupancy loss (keeping every parameter in use) but select nothing. Memory and time grow
# with 640,000 / 64,000 = 10x the voxels in training (20x at test time): a large-memory
# GPU setting, as the dense baselines are.
_base_ = ['./r50_nuimg_704x256_8f.py']

level_sizes = (1250, 10000, 80000, 640000)
model = dict(proposal=dict(topk_train=level_sizes, topk_test=level_sizes))
