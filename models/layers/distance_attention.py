"""Self-attention among sparse voxels with SparseBEV's scale-adaptive distance bias.

Each head h of each query i adds ``-tau_h(i) * ||c_i - c_j||`` to its attention logits,
with ``c`` the voxel centres in the BEV plane (metres, ego frame) and ``tau`` a per-query,
per-head rate predicted from the query (SparseBEV's ``gen_tau``, initialised in [0, 2]):
a head with a large tau looks locally, one with tau near 0 globally.

Kept sparse: up to ``chunk_size`` voxels attend densely (exactly SparseBEV's attention);
larger sets are sorted spatially (by BEV windows of ``window_size`` voxels, then by position
inside a window) and attend inside consecutive chunks of that order, so memory stays
O(K chunk_size) instead of O(K^2). With the distance bias a query's weights fall off with
distance anyway, so the far voxels a chunk leaves out would carry little weight.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


def pairwise_distance(points):
    """Euclidean distances between all pairs of points, as the norm of their differences.

    ``torch.cdist``'s default float32 path expands ``|a|^2 + |b|^2 - 2 a.b``, which cancels
    catastrophically for points far from the origin (0.025 m off at 40 m, 0.022 m for a point's
    distance to itself); the difference is exact to rounding.

    Args:
        points (Tensor): float [B, S, D].

    Returns:
        Tensor: float [B, S, S], the points' dtype and units.
    """
    return torch.linalg.vector_norm(points[:, :, None] - points[:, None], dim=-1)


class DistanceBiasedSelfAttention(nn.Module):
    """Multi-head self-attention with a learned distance bias (see the module docstring).

    Args:
        embed_dims (int): C.
        num_heads (int): heads (divides C).
        dropout (float): attention-weight dropout (training only).
        output_dropout (bool): also drop the attention output before the residual with
            ``dropout``; SparseOcc (mmcv's ``MultiheadAttention(dropout)``) drops the weights
            only.
        chunk_size (int): largest voxel set attended densely; larger sets attend in chunks.
        window_size (int): BEV window edge (voxels) of the spatial sort for chunking.
        xavier_init (bool): initialise the q, k, v projection xavier-uniform with zero biases
            (``nn.MultiheadAttention``'s, SparseOcc's); False keeps ``nn.Linear``'s.
    """

    def __init__(self, embed_dims, num_heads=8, dropout=0.1, output_dropout=False,
                 chunk_size=4096, window_size=8, xavier_init=True):
        super().__init__()
        if embed_dims % num_heads:
            raise ValueError(f'num_heads {num_heads} must divide embed_dims {embed_dims}')
        self.num_heads, self.dropout = num_heads, dropout
        self.chunk_size, self.window_size = int(chunk_size), int(window_size)
        self.xavier_init = bool(xavier_init)
        self.qkv = nn.Linear(embed_dims, 3 * embed_dims)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.gen_tau = nn.Linear(embed_dims, num_heads)
        self.drop = nn.Dropout(dropout) if output_dropout else nn.Identity()
        self.init_weights()

    def init_weights(self):
        nn.init.zeros_(self.gen_tau.weight)
        nn.init.uniform_(self.gen_tau.bias, 0.0, 2.0)
        if self.xavier_init:
            nn.init.xavier_uniform_(self.qkv.weight)
            nn.init.zeros_(self.qkv.bias)
            nn.init.zeros_(self.proj.bias)

    def forward(self, x, centres, coords):
        """
        Args:
            x (Tensor): float [B, K, C] voxel features (positional encoding included).
            centres (Tensor): float [B, K, 3] voxel centres, metres (ego frame).
            coords (Tensor): int64 [B, K, 3] non-negative voxel indices, for the spatial sort.

        Returns:
            Tensor: float [B, K, C], ``x`` plus the attention output (residual).
        """
        batch, num, channels = x.shape
        order = None
        if num > self.chunk_size:
            order = self._spatial_order(coords)
            x_in = x.gather(1, order[..., None].expand(-1, -1, channels))
            centres = centres.gather(1, order[..., None].expand(-1, -1, 3))
        else:
            x_in = x
        size = min(num, self.chunk_size)
        chunks = -(-num // size)
        pad = chunks * size - num
        valid = torch.ones(batch, num, dtype=torch.bool, device=x.device)
        if pad:
            x_in = F.pad(x_in, (0, 0, 0, pad))
            centres = F.pad(centres, (0, 0, 0, pad))
            valid = F.pad(valid, (0, pad), value=False)
        heads, head_dims = self.num_heads, channels // self.num_heads
        q, k, v = self.qkv(x_in).view(batch * chunks, size, 3, heads, head_dims).permute(
            2, 0, 3, 1, 4)                                           # 3 x [B n, H, S, C/H]
        bev = centres[..., :2].reshape(batch * chunks, size, 2).float()
        dist = pairwise_distance(bev)                                # [B n, S, S]
        tau = self.gen_tau(x_in).reshape(batch * chunks, size, heads).transpose(1, 2)
        bias = -tau[..., None] * dist[:, None]                       # [B n, H, S, S]
        bias = bias.masked_fill(~valid.view(batch * chunks, 1, 1, size), float('-inf'))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype),
                                             dropout_p=self.dropout if self.training else 0.0)
        out = out.transpose(1, 2).reshape(batch, chunks * size, channels)[:, :num]
        if order is not None:
            out = torch.empty_like(out).scatter_(1, order[..., None].expand(-1, -1, channels),
                                                 out)
        return x + self.drop(self.proj(out))

    def _spatial_order(self, coords):
        """int64 [B, K]: a permutation that makes BEV windows contiguous (window-major, then
        x, y, z inside a window)."""
        span = int(coords.max()) + 1
        windows = -(-span // self.window_size)
        window = torch.div(coords[..., :2], self.window_size, rounding_mode='floor')
        window_key = window[..., 0] * windows + window[..., 1]
        local_key = (coords[..., 0] * span + coords[..., 1]) * span + coords[..., 2]
        return torch.argsort(window_key * span ** 3 + local_key, dim=1)
