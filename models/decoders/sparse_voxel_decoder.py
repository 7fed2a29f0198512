"""Sparse voxel decoder: refines the features of the kept voxels.

Each layer: local self-attention among the kept voxels (voxels sorted spatially by window,
attention inside fixed-size chunks of that order, windows shifted by half every other layer
so information crosses window borders) with a 3D positional encoding of voxel centres; image
sampling (learned 3D sample points around each voxel centre, projected into every view,
sampled by an injectable sampler module, mixed into the voxel feature); an FFN. Post-norm
residual blocks. The voxel set itself is fixed: coarse-to-fine upsampling happens in the
proposal (``SparseVoxelProposal``).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from mmdet3d.registry import MODELS


def voxel_centres(coords, grid_min, voxel_size):
    """Metric centres of voxels.

    Args:
        coords (Tensor): int [..., 3] voxel indices (x, y, z).
        grid_min (sequence of 3 floats): metres of the grid's lowest corner, ego frame.
        voxel_size (float): voxel edge in metres at the coords' resolution.

    Returns:
        Tensor: float32 [..., 3] centres in metres (ego frame).
    """
    return coords.float().add(0.5).mul(voxel_size).add(coords.new_tensor(grid_min,
                                                                         dtype=torch.float32))


class VoxelPositionalEncoding(nn.Module):
    """MLP of voxel centres normalised to [0, 1] over the grid's extent.

    Args:
        embed_dims (int): C.
        grid_min (sequence of 3 floats): metres of the lowest corner.
        grid_extent (sequence of 3 floats): metres the grid spans along x, y, z.
    """

    def __init__(self, embed_dims, grid_min, grid_extent):
        super().__init__()
        self.register_buffer('grid_min', torch.tensor(grid_min, dtype=torch.float32),
                             persistent=False)
        self.register_buffer('grid_extent', torch.tensor(grid_extent, dtype=torch.float32),
                             persistent=False)
        self.mlp = nn.Sequential(nn.Linear(3, embed_dims), nn.ReLU(inplace=True),
                                 nn.Linear(embed_dims, embed_dims))

    def forward(self, centres):
        """centres float [..., 3] metres -> float [..., C]."""
        return self.mlp((centres - self.grid_min) / self.grid_extent)


def chunked_self_attention(x, pos, coords, qkv, proj, num_heads, window_size, shift,
                           chunk_size, dropout):
    """Self-attention inside chunks of spatially sorted voxels.

    Args:
        x (Tensor): float [B, K, C] voxel features (values); queries/keys are x + pos.
        pos (Tensor): float [B, K, C] positional encodings.
        coords (Tensor): int64 [B, K, 3] voxel indices, non-negative.
        qkv (nn.Linear): C -> 3C; proj (nn.Linear): C -> C.
        num_heads (int): attention heads.
        window_size (int): voxels per window edge for the spatial sort.
        shift (int): voxels added to coords before windowing (Swin-style shift).
        chunk_size (int): tokens per attention chunk (the last one is padded and masked).
        dropout (float): attention dropout (training only).

    Returns:
        Tensor: float [B, K, C] attention output, in the input order.
    """
    batch, num, channels = x.shape
    window = torch.div(coords + shift, window_size, rounding_mode='floor')
    # Sort by window (x, y, z), then by position inside the window; int64 keys.
    span = int(coords.max()) + shift + 1
    nwin = span // window_size + 1
    window_key = (window[..., 0] * nwin + window[..., 1]) * nwin + window[..., 2]
    local_key = (coords[..., 0] * span + coords[..., 1]) * span + coords[..., 2]
    order = torch.argsort(window_key * span ** 3 + local_key, dim=1)
    gather_index = order[..., None].expand(-1, -1, channels)
    x_sorted = x.gather(1, gather_index)
    pos_sorted = pos.gather(1, gather_index)
    chunks = -(-num // chunk_size)
    pad = chunks * chunk_size - num
    valid = torch.ones(batch, num, dtype=torch.bool, device=x.device)
    if pad:
        x_sorted = F.pad(x_sorted, (0, 0, 0, pad))
        pos_sorted = F.pad(pos_sorted, (0, 0, 0, pad))
        valid = F.pad(valid, (0, pad), value=False)
    q, k, _ = qkv(x_sorted + pos_sorted).chunk(3, -1)
    _, _, v = qkv(x_sorted).chunk(3, -1)
    head_dims = channels // num_heads

    def heads(t):
        return t.reshape(batch * chunks, chunk_size, num_heads, head_dims).transpose(1, 2)

    mask = valid.view(batch * chunks, 1, 1, chunk_size)
    out = F.scaled_dot_product_attention(heads(q), heads(k), heads(v), attn_mask=mask,
                                         dropout_p=dropout)
    out = proj(out.transpose(1, 2).reshape(batch, chunks * chunk_size, channels)[:, :num])
    return torch.empty_like(out).scatter_(1, gather_index, out)


class _DecoderLayer(nn.Module):
    """Self-attention, image sampling and FFN on sparse voxels (post-norm residuals)."""

    def __init__(self, embed_dims, num_heads, ffn_dims, num_points, num_feat_levels,
                 offset_range, dropout):
        super().__init__()
        self.num_points = num_points
        self.num_feat_levels = num_feat_levels
        self.offset_range = offset_range
        self.qkv = nn.Linear(embed_dims, 3 * embed_dims)
        self.attn_proj = nn.Linear(embed_dims, embed_dims)
        self.norm_attn = nn.LayerNorm(embed_dims)
        self.sampling_offsets = nn.Linear(embed_dims, num_points * 3)
        self.level_weights = nn.Linear(embed_dims, num_points * num_feat_levels)
        self.sample_proj = nn.Linear(num_points * embed_dims, embed_dims)
        self.norm_sample = nn.LayerNorm(embed_dims)
        self.ffn = nn.Sequential(nn.Linear(embed_dims, ffn_dims), nn.ReLU(inplace=True),
                                 nn.Dropout(dropout), nn.Linear(ffn_dims, embed_dims))
        self.norm_ffn = nn.LayerNorm(embed_dims)
        self.dropout = nn.Dropout(dropout)
        # Start from points spread around the voxel centre that do not depend on the
        # feature yet (as deformable attention does), and from equal level weights.
        nn.init.zeros_(self.sampling_offsets.weight)
        with torch.no_grad():
            self.sampling_offsets.bias.uniform_(-1.0, 1.0)
        nn.init.zeros_(self.level_weights.weight)
        nn.init.zeros_(self.level_weights.bias)

    def forward(self, x, pos, coords, centres, shift, window_size, chunk_size, num_heads,
                sampler, mlvl_feats, ego2img, img_shape):
        attn_dropout = self.dropout.p if self.training else 0.0
        x = self.norm_attn(x + self.dropout(chunked_self_attention(
            x, pos, coords, self.qkv, self.attn_proj, num_heads, window_size, shift,
            chunk_size, attn_dropout)))
        batch, num, _ = x.shape
        query = x + pos
        offsets = torch.tanh(self.sampling_offsets(query)).view(batch, num, self.num_points, 3)
        points = centres[:, :, None] + offsets * self.offset_range             # metres
        weights = self.level_weights(query).view(batch, num, self.num_points,
                                                 self.num_feat_levels).softmax(-1)
        sampled = sampler(mlvl_feats, points, ego2img, img_shape, weights)     # [B,K,P,C]
        x = self.norm_sample(x + self.dropout(self.sample_proj(sampled.flatten(2))))
        return self.norm_ffn(x + self.dropout(self.ffn(x)))


@MODELS.register_module()
class SparseVoxelDecoder(BaseModule):
    """Stack of sparse voxel layers (see the module docstring).

    Args:
        embed_dims (int): C, voxel feature width; the image features must have C channels.
        num_layers (int): number of layers.
        num_heads (int): self-attention heads (divides C).
        ffn_dims (int): FFN hidden width.
        num_points (int): P, image sample points per voxel.
        num_feat_levels (int): L, image feature pyramid levels passed to ``forward``.
        grid_min (sequence of 3 floats): metres of the grid's lowest corner (Occ3D:
            (-40, -40, -1)).
        grid_shape (sequence of 3 ints): (X, Y, Z) of the coords' grid (e.g. 200, 200, 16).
        voxel_size (float): voxel edge in metres at the coords' resolution (e.g. 0.4).
        window_size (int): window edge in voxels of the spatial sort for self-attention.
        chunk_size (int): voxels per self-attention chunk.
        offset_range (float): sample points lie within +- this many metres of the voxel
            centre along each axis.
        dropout (float): dropout in attention, sampling and FFN residuals.
        sampler (dict): config of the image sampler module, called as
            ``sampler(mlvl_feats, points [B, K, P, 3], ego2img, img_shape,
            level_weights [B, K, P, L]) -> [B, K, P, C]``; e.g.
            ``dict(type='MultiviewBilinearSampler', num_cams=6)``.
        init_cfg (dict, optional): mmengine initialisation config.
    """

    def __init__(self, embed_dims, num_layers, num_heads, ffn_dims, num_points,
                 num_feat_levels, grid_min, grid_shape, voxel_size, window_size, chunk_size,
                 offset_range, dropout, sampler, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if embed_dims % num_heads:
            raise ValueError(f'num_heads {num_heads} must divide embed_dims {embed_dims}')
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.grid_min = tuple(float(v) for v in grid_min)
        self.voxel_size = float(voxel_size)
        self.window_size = int(window_size)
        self.chunk_size = int(chunk_size)
        self.pos_encoding = VoxelPositionalEncoding(
            embed_dims, self.grid_min, [s * self.voxel_size for s in grid_shape])
        self.layers = nn.ModuleList(
            _DecoderLayer(embed_dims, num_heads, ffn_dims, num_points, num_feat_levels,
                          offset_range, dropout) for _ in range(num_layers))
        self.sampler = MODELS.build(sampler)

    def forward(self, coords, feats, mlvl_feats, ego2img, img_shape):
        """
        Args:
            coords (Tensor): int64 [B, K, 3] voxel indices (the proposal's ``coords``).
            feats (Tensor): float [B, K, C] voxel features.
            mlvl_feats (list of Tensor): L image levels, float [B, V, C, H_l, W_l], views
                frame-major (t * cams + cam).
            ego2img (Tensor): float [B, V, 4, 4], current ego metres -> augmented image
                pixels.
            img_shape (tuple of 2 ints): (H, W) of the augmented images.

        Returns:
            Tensor: float [B, K, C] refined voxel features, same voxel order.
        """
        centres = voxel_centres(coords, self.grid_min, self.voxel_size)
        pos = self.pos_encoding(centres)
        x = feats
        for index, layer in enumerate(self.layers):
            shift = (index % 2) * (self.window_size // 2)
            x = layer(x, pos, coords, centres, shift, self.window_size, self.chunk_size,
                      self.num_heads, self.sampler, mlvl_feats, ego2img, img_shape)
        return x
