"""Decoder building blocks: AdaptiveMixing and distance-biased sparse self-attention."""
import pytest
import torch

from models.layers import AdaptiveMixing, DistanceBiasedSelfAttention
from models.layers.distance_attention import pairwise_distance


def test_adaptive_mixing_is_a_residual_that_depends_on_every_sample():
    torch.manual_seed(0)
    mixing = AdaptiveMixing(embed_dims=16, in_points=6, num_groups=4, out_points=8)
    query = torch.randn(2, 3, 16)
    sampled = torch.randn(2, 3, 4, 6, 4, requires_grad=True)
    out = mixing(sampled, query)
    assert out.shape == (2, 3, 16)
    out.sum().backward()
    # Point mixing spans all P_in samples (e.g. every frame's): each one moves the output.
    assert (sampled.grad.abs().sum((0, 1, 2, 4)) > 0).all()
    with pytest.raises(ValueError, match=r'sampled must be \[B, Q, 4, 6, 4\]'):
        mixing(torch.randn(2, 3, 4, 5, 4), query)


def _attention(chunk_size):
    torch.manual_seed(0)
    return DistanceBiasedSelfAttention(16, num_heads=2, dropout=0.0, chunk_size=chunk_size,
                                       window_size=4).eval()


def _voxels(num=30):
    """Voxels in distinct BEV columns (the bias measures BEV distance)."""
    gen = torch.Generator().manual_seed(1)
    columns = torch.randperm(8 * 8, generator=gen)[:num]
    heights = torch.randint(0, 2, (num,), generator=gen)
    coords = torch.stack([columns // 8, columns % 8, heights], -1)[None]
    return torch.randn(1, num, 16, generator=gen), coords.float() * 0.4, coords


def test_dense_attention_equals_the_formula():
    attention = _attention(chunk_size=100)
    x, centres, coords = _voxels()
    q, k, v = attention.qkv(x).view(1, 30, 3, 2, 8).permute(2, 0, 3, 1, 4)
    tau = attention.gen_tau(x).transpose(1, 2)                       # [B, H, K]
    dist = (centres[:, :, None, :2] - centres[:, None, :, :2]).norm(dim=-1)
    weights = (q @ k.transpose(-1, -2) / 8 ** 0.5 - tau[..., None] * dist[:, None]).softmax(-1)
    expected = x + attention.proj((weights @ v).transpose(1, 2).reshape(1, 30, 16))
    assert torch.allclose(attention(x, centres, coords), expected, atol=1e-5)


def test_pairwise_distance_is_exact_far_from_the_origin():
    """Voxel centres of the Occ3D range: float32 distances agree with float64 ones to
    rounding, and a voxel is at distance 0 from itself. The control shows why cdist was
    replaced: its default float32 path is centimetres off on the same points."""
    gen = torch.Generator().manual_seed(0)
    centres = (torch.randint(0, 200, (2, 500, 2), generator=gen) + 0.5) * 0.4 - 40
    exact = (centres.double()[:, :, None] - centres.double()[:, None]).norm(dim=-1)
    dist = pairwise_distance(centres)
    assert dist.dtype == torch.float32
    assert (dist.double() - exact).abs().max() < 3e-5  # float32 rounding at ~100 m
    assert (dist.diagonal(dim1=1, dim2=2) == 0).all()
    assert (torch.cdist(centres, centres).double() - exact).abs().max() > 1e-3


def test_a_steep_distance_bias_makes_voxels_attend_to_themselves():
    attention = _attention(chunk_size=100)
    with torch.no_grad():
        attention.gen_tau.bias.fill_(1e4)
    x, centres, coords = _voxels()
    v = attention.qkv(x)[..., 32:]
    assert torch.allclose(attention(x, centres, coords), x + attention.proj(v), atol=1e-4)


def test_chunked_attention_keeps_the_voxel_order():
    """Above chunk_size the voxels attend inside spatial chunks; each output row still
    belongs to its input voxel, whatever order the voxels come in."""
    attention = _attention(chunk_size=8)
    x, centres, coords = _voxels()
    out = attention(x, centres, coords)
    assert out.shape == x.shape and torch.isfinite(out).all()
    perm = torch.randperm(30, generator=torch.Generator().manual_seed(2))
    shuffled = attention(x[:, perm], centres[:, perm], coords[:, perm])
    assert torch.allclose(shuffled, out[:, perm], atol=1e-5)
