"""AdaptiveMixing (AdaMixer, Gao et al., CVPR 2022; as SparseBEV / SparseOcc use it).

The sampled features of a query are mixed by weights the query itself generates: per
channel group, a channel mixing ``[P_in, C_g] @ M [C_g, C_g']`` and then a point mixing
``S [P_out, P_in] @ [P_in, C_g']``, each followed by a LayerNorm over the (points,
channels) plane and a ReLU; a linear layer maps the flattened result back to the query,
which it is added to (residual). Because the point mixing spans every sample of every frame,
this is where a query combines what different frames saw.
"""
import torch.nn as nn
import torch.nn.functional as F


class AdaptiveMixing(nn.Module):
    """Query-conditioned channel and point mixing of sampled features (see module docstring).

    Args:
        embed_dims (int): C of the queries and of the sampled features (G groups of C / G).
        in_points (int): P_in, samples per query and group (e.g. frames x points).
        num_groups (int): G channel groups, mixed independently.
        out_points (int): P_out after the point mixing (SparseOcc: G P_in in the voxel
            decoder, 128 in the mask head).
    """

    def __init__(self, embed_dims, in_points, num_groups, out_points):
        super().__init__()
        if embed_dims % num_groups:
            raise ValueError(f'AdaptiveMixing: num_groups {num_groups} must divide '
                             f'embed_dims {embed_dims}')
        self.in_points, self.out_points, self.num_groups = in_points, out_points, num_groups
        self.group_dims = embed_dims // num_groups
        self.channel_params = self.group_dims * self.group_dims
        self.point_params = in_points * out_points
        self.parameter_generator = nn.Linear(
            embed_dims, num_groups * (self.channel_params + self.point_params))
        self.out_proj = nn.Linear(num_groups * out_points * self.group_dims, embed_dims)
        self.init_weights()

    def init_weights(self):
        # Zero generator weights: every query starts with the same (bias) mixing, so early
        # training is not driven by random query-dependent weights (AdaMixer's init).
        nn.init.zeros_(self.parameter_generator.weight)

    def forward(self, sampled, query):
        """
        Args:
            sampled (Tensor): float [B, Q, G, P_in, C / G] sampled features.
            query (Tensor): float [B, Q, C].

        Returns:
            Tensor: float [B, Q, C], ``query`` plus the mixed samples.
        """
        batch, num_q, groups, points, channels = sampled.shape
        if (groups, points, channels) != (self.num_groups, self.in_points, self.group_dims):
            raise ValueError(f'AdaptiveMixing: sampled must be [B, Q, {self.num_groups}, '
                             f'{self.in_points}, {self.group_dims}], got {tuple(sampled.shape)}')
        params = self.parameter_generator(query).view(batch * num_q, groups, -1)
        channel_mix, point_mix = params.split([self.channel_params, self.point_params], -1)
        channel_mix = channel_mix.reshape(batch * num_q, groups, channels, channels)
        point_mix = point_mix.reshape(batch * num_q, groups, self.out_points, points)
        out = sampled.reshape(batch * num_q, groups, points, channels).to(params.dtype)
        out = F.relu(F.layer_norm(out @ channel_mix, out.shape[-2:]))
        out = point_mix @ out
        out = F.relu(F.layer_norm(out, out.shape[-2:]))
        return query + self.out_proj(out.reshape(batch, num_q, -1))
