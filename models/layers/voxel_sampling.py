"""Image sampling around voxels at learned offsets (SparseOcc's ``SparseBEVSampling`` on
voxel boxes).

Each voxel query predicts, per channel group, P offsets in units of its voxel edge (so a
stage's points scale with its resolution) and per-point weights of the feature levels
(softmax); the points are sampled in every camera of every frame through
:class:`models.layers.depth_weighted_sampling.MultiviewImages`, optionally depth-weighted.
"""
import torch.nn as nn


class VoxelSampling(nn.Module):
    """Learned sample points around voxel centres, sampled in all frames.

    Args:
        embed_dims (int): C of the queries.
        num_groups (int): G channel groups (each with its own points).
        num_points (int): P points per group.
        num_levels (int): L feature levels.
        offset_init (float): initial offsets are uniform in +- this many voxel edges
            (SparseOcc: 0.5, i.e. spread over the voxel itself).
    """

    def __init__(self, embed_dims, num_groups, num_points, num_levels, offset_init=0.5):
        super().__init__()
        self.num_groups, self.num_points, self.num_levels = num_groups, num_points, num_levels
        self.offset_init = offset_init
        self.sampling_offsets = nn.Linear(embed_dims, num_groups * num_points * 3)
        self.scale_weights = nn.Linear(embed_dims, num_groups * num_points * num_levels)
        self.init_weights()

    def init_weights(self):
        # Query-independent points spread over the voxel to start with (deformable
        # attention's init); the weights learn to move them.
        nn.init.zeros_(self.sampling_offsets.weight)
        nn.init.uniform_(self.sampling_offsets.bias, -self.offset_init, self.offset_init)

    def forward(self, query, centres, box_size, images, depth_weighted):
        """
        Args:
            query (Tensor): float [B, Q, C].
            centres (Tensor): float [B, Q, 3] voxel centres, metres (current ego).
            box_size (float): voxel edge of this stage, metres.
            images (MultiviewImages): this forward's image features.
            depth_weighted (bool): weight current-frame samples by the predicted depth
                probability at their depth.

        Returns:
            Tensor: float32 [B, Q, G, T * P, C / G] (see ``MultiviewImages.sample``).
        """
        batch, num = query.shape[:2]
        shape = (batch, num, self.num_groups, self.num_points)
        offsets = self.sampling_offsets(query).view(*shape, 3).float()
        points = centres[:, :, None, None] + offsets * box_size
        weights = self.scale_weights(query).view(*shape, self.num_levels).float().softmax(-1)
        return images.sample(points, weights, depth_weighted)
