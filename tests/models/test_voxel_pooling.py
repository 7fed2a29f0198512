"""Voxel pooling: compiled kernels against the reference, gradients, hand-built cases."""
import pytest
import torch

from models.ops import (VoxelPoolingRanks, backend, voxel_pooling, voxel_pooling_prepare,
                        voxel_pooling_reference)

# Compiled kernels this machine can run (a CUDA kernel needs a GPU too).
COMPILED = [impl for impl in ('cpu', 'cuda') if backend.has_kernel('voxel_pooling_forward', impl)
            and (impl == 'cpu' or torch.cuda.is_available())]
# The CUDA backward adds with atomics, so two runs may differ in the last bits.
NONDET_TOL = {'cuda': 1e-10}
GRID_MIN = (-4.0, -4.0, -1.0)
VOXEL = 0.5


def _random_case(seed, batch=2, cams=3, bins=5, height=4, width=6, channels=7,
                 grid_shape=(16, 16, 4), spread=1.3, dtype=torch.float32):
    """Frustum points scattered over a box ``spread`` times the grid's extent (so some fall
    outside), depth probabilities and context features."""
    gen = torch.Generator().manual_seed(seed)
    extent = torch.tensor(grid_shape, dtype=torch.float64) * VOXEL
    centre = torch.tensor(GRID_MIN, dtype=torch.float64) + extent / 2
    unit = torch.rand(batch, cams, bins, height, width, 3, generator=gen, dtype=torch.float64)
    coords = centre + (unit - 0.5) * extent * spread
    depth = torch.rand(batch, cams, bins, height, width, generator=gen, dtype=dtype).softmax(2)
    context = torch.randn(batch, cams, height, width, channels, generator=gen, dtype=dtype)
    ranks = voxel_pooling_prepare(coords, GRID_MIN, VOXEL, grid_shape)
    return depth, context, ranks, grid_shape


def _device_for(impl):
    return torch.device('cuda' if impl == 'cuda' else 'cpu')


def _to(ranks, device):
    return VoxelPoolingRanks(*(r.to(device) for r in ranks))


def test_prepare_keeps_points_inside_and_sorts_them_into_intervals():
    depth, _, ranks, grid_shape = _random_case(0, spread=1.5)
    num_points = ranks.ranks_depth.numel()
    assert 0 < num_points < depth.numel()
    assert bool((ranks.ranks_voxel[1:] >= ranks.ranks_voxel[:-1]).all())
    assert int(ranks.interval_lengths.sum()) == num_points
    assert ranks.interval_starts[0] == 0
    assert torch.equal(ranks.interval_starts[1:],
                       (ranks.interval_starts + ranks.interval_lengths)[:-1])
    # Exactly one interval per distinct voxel.
    assert ranks.interval_starts.numel() == ranks.ranks_voxel.unique().numel()
    assert all(r.dtype == torch.int64 for r in ranks)


def test_prepare_uses_the_grid_convention_of_occ3d():
    # Occ3D: voxel (i, j, k) centre = (-40 + 0.4 (i + 0.5), -40 + 0.4 (j + 0.5), -1 + ...).
    ijk = torch.tensor([[0, 0, 0], [199, 199, 15], [120, 7, 3], [5, 180, 9]])
    centres = torch.tensor([-40.0, -40.0, -1.0]) + 0.4 * (ijk + 0.5)
    outside = torch.tensor([[-40.01, 0.0, 0.0], [0.0, 40.0, 0.0], [0.0, 0.0, 5.41]])
    coords = torch.cat([centres, outside]).view(1, 1, 7, 1, 1, 3)
    ranks = voxel_pooling_prepare(coords, (-40.0, -40.0, -1.0), 0.4, (200, 200, 16))
    expected = ((ijk[:, 0] * 200 + ijk[:, 1]) * 16 + ijk[:, 2])
    order = expected.argsort()
    assert torch.equal(ranks.ranks_voxel, expected[order])
    assert torch.equal(ranks.ranks_depth, order)  # depth bin d is flat index d here
    assert torch.equal(ranks.ranks_feat, torch.zeros(4, dtype=torch.long))


@pytest.mark.skipif(not COMPILED, reason='models._C is not built')
@pytest.mark.parametrize('impl', COMPILED)
@pytest.mark.parametrize('seed,kwargs', [
    (0, {}),
    (1, dict(batch=1, cams=6, bins=8, height=3, width=5, channels=16, grid_shape=(10, 12, 3))),
    (2, dict(channels=1, spread=3.0)),                 # most points outside the grid
    (3, dict(grid_shape=(40, 40, 8), spread=0.5)),     # many empty voxels
    (4, dict(grid_shape=(2, 2, 1), channels=33)),      # many points per voxel
])
def test_compiled_forward_matches_reference(impl, seed, kwargs):
    depth, context, ranks, grid_shape = _random_case(seed, **kwargs)
    dev = _device_for(impl)
    out = voxel_pooling(depth.to(dev), context.to(dev), *_to(ranks, dev), grid_shape, impl=impl)
    expected = voxel_pooling_reference(depth, context, *ranks, grid_shape)
    assert out.shape == (depth.shape[0], *grid_shape, context.shape[-1])
    assert torch.allclose(out.cpu(), expected, atol=1e-5, rtol=1e-5)


@pytest.fixture(params=['reference'] + COMPILED)
def impl(request):
    return request.param


def test_gradcheck_in_float64(impl):
    depth, context, ranks, grid_shape = _random_case(5, batch=2, cams=2, bins=3, height=2,
                                                     width=3, channels=3, grid_shape=(3, 3, 2),
                                                     dtype=torch.float64)
    dev = _device_for(impl)
    depth = depth.to(dev).requires_grad_()
    context = context.to(dev).requires_grad_()
    ranks = _to(ranks, dev)
    tol = NONDET_TOL.get(impl, 0.0)
    assert torch.autograd.gradcheck(
        lambda d, c: voxel_pooling(d, c, *ranks, grid_shape, impl=impl), (depth, context),
        nondet_tol=tol)
    assert torch.autograd.gradcheck(
        lambda d: voxel_pooling(d, None, *ranks, grid_shape, impl=impl), (depth,),
        nondet_tol=tol)


@pytest.mark.skipif(not COMPILED, reason='models._C is not built')
@pytest.mark.parametrize('impl', COMPILED)
def test_compiled_gradients_match_reference(impl):
    depth, context, ranks, grid_shape = _random_case(6, batch=2, cams=6, bins=12, height=6,
                                                     width=10, channels=24,
                                                     grid_shape=(12, 12, 4))
    grad = torch.randn(depth.shape[0], *grid_shape, context.shape[-1],
                       generator=torch.Generator().manual_seed(7))
    dev = _device_for(impl)
    results = []
    for name, device in ((impl, dev), ('reference', torch.device('cpu'))):
        # detach first: .to('cpu') returns the case's own tensor, and a copy of a tensor that
        # requires grad is no leaf (its .grad stays None).
        d = depth.detach().to(device).requires_grad_()
        c = context.detach().to(device).requires_grad_()
        out = voxel_pooling(d, c, *_to(ranks, device), grid_shape, impl=name)
        out.backward(grad.to(device))
        results.append((d.grad.cpu(), c.grad.cpu()))
    (gd, gc), (ref_gd, ref_gc) = results
    assert torch.allclose(gd, ref_gd, atol=1e-5, rtol=1e-5)
    assert torch.allclose(gc, ref_gc, atol=1e-5, rtol=1e-5)


@pytest.mark.skipif('cpu' not in COMPILED, reason='models._C is not built')
def test_compiled_cpu_backward_is_deterministic():
    depth, context, ranks, grid_shape = _random_case(8, channels=16, grid_shape=(4, 4, 2))
    grad = torch.randn(depth.shape[0], *grid_shape, 16)
    grads = []
    for _ in range(2):
        d, c = depth.clone().requires_grad_(), context.clone().requires_grad_()
        voxel_pooling(d, c, *ranks, grid_shape, impl='cpu').backward(grad)
        grads.append((d.grad, c.grad))
    assert torch.equal(grads[0][0], grads[1][0]) and torch.equal(grads[0][1], grads[1][1])


def test_one_point_per_voxel_lands_at_its_voxel(impl):
    # Two cameras, two depth bins, one pixel row of two: eight points at eight voxel centres.
    grid_shape = (4, 3, 2)
    ijk = torch.tensor([[0, 0, 0], [3, 2, 1], [1, 2, 0], [2, 0, 1],
                        [3, 0, 0], [0, 2, 1], [1, 1, 1], [2, 1, 0]])
    centres = torch.tensor(GRID_MIN) + VOXEL * (ijk.double() + 0.5)
    coords = centres.view(1, 2, 2, 1, 2, 3)  # [B, N, D, H, W, 3]
    depth = torch.arange(1.0, 9.0).view(1, 2, 2, 1, 2)
    context = torch.tensor([[10.0, -1.0], [20.0, -2.0], [30.0, -3.0], [40.0, -4.0]])
    context = context.view(1, 2, 1, 2, 2)
    dev = _device_for(impl)
    ranks = _to(voxel_pooling_prepare(coords, GRID_MIN, VOXEL, grid_shape), dev)
    out = voxel_pooling(depth.to(dev), context.to(dev), *ranks, grid_shape, impl=impl).cpu()
    expected = torch.zeros(1, *grid_shape, 2)
    for p in range(8):
        n, d, w = p // 4, (p // 2) % 2, p % 2
        expected[0, ijk[p, 0], ijk[p, 1], ijk[p, 2]] = depth[0, n, d, 0, w] * context[0, n, 0, w]
    assert torch.equal(out, expected)
    # Depth-only pooling puts each point's probability at its voxel.
    mass = voxel_pooling(depth.to(dev), None, *ranks, grid_shape, impl=impl).cpu()
    assert mass.shape == (1, *grid_shape, 1)
    assert torch.equal(mass[0, ijk[:, 0], ijk[:, 1], ijk[:, 2], 0], depth.reshape(-1))
    assert mass.sum() == depth.sum()


def test_points_sharing_a_voxel_add_up(impl):
    coords = torch.tensor([0.1, 0.1, 0.1]).expand(1, 1, 3, 1, 2, 3).clone()
    coords[0, 0, 2, 0, 1] = torch.tensor([9.0, 0.0, 0.0])  # outside: dropped
    depth = torch.tensor([0.5, 0.25, 0.125, 0.0625, 1.0, 2.0]).view(1, 1, 3, 1, 2)
    context = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 1, 1, 2, 2)
    dev = _device_for(impl)
    ranks = _to(voxel_pooling_prepare(coords, (0.0, 0.0, 0.0), 1.0, (2, 2, 2)), dev)
    out = voxel_pooling(depth.to(dev), context.to(dev), *ranks, (2, 2, 2), impl=impl).cpu()
    expected = (0.5 + 0.125 + 1.0) * context[0, 0, 0, 0] + (0.25 + 0.0625) * context[0, 0, 0, 1]
    assert torch.allclose(out[0, 0, 0, 0], expected)
    assert out.abs().sum() == out[0, 0, 0, 0].abs().sum()


def test_no_points_inside_gives_zeros(impl):
    depth, context, _, grid_shape = _random_case(9)
    far = torch.full((*depth.shape, 3), 100.0, dtype=torch.float64)
    ranks = voxel_pooling_prepare(far, GRID_MIN, VOXEL, grid_shape)
    assert ranks.ranks_depth.numel() == 0 and ranks.interval_starts.numel() == 0
    dev = _device_for(impl)
    d = depth.to(dev).requires_grad_()
    out = voxel_pooling(d, context.to(dev), *_to(ranks, dev), grid_shape, impl=impl)
    assert out.shape == (2, *grid_shape, 7) and not out.any()
    out.sum().backward()
    assert not d.grad.any()


def test_depth_only_equals_pooling_a_context_of_ones(impl):
    depth, context, ranks, grid_shape = _random_case(10)
    dev = _device_for(impl)
    ranks = _to(ranks, dev)
    ones = torch.ones(*context.shape[:4], 1, device=dev)
    mass = voxel_pooling(depth.to(dev), None, *ranks, grid_shape, impl=impl)
    assert torch.allclose(mass, voxel_pooling(depth.to(dev), ones, *ranks, grid_shape,
                                              impl=impl))


@pytest.mark.skipif('cpu' not in COMPILED, reason='models._C is not built')
def test_cpu_impl_accepts_int32_ranks():
    depth, context, ranks, grid_shape = _random_case(11)
    small = [r.int() for r in ranks]
    assert torch.equal(voxel_pooling(depth, context, *small, grid_shape, impl='cpu'),
                       voxel_pooling(depth, context, *ranks, grid_shape, impl='cpu'))


def _skip_without_cuda_kernel(op):
    if not torch.cuda.is_available():
        pytest.skip('no CUDA device on this machine: CUDA parity runs on a GPU machine')
    if not backend.has_kernel(op, 'cuda'):
        pytest.skip('models._C was built without CUDA kernels')
    if not backend.has_kernel(op, 'cpu'):
        pytest.skip('models._C is not built')


def test_cuda_matches_compiled_cpu_forward_and_backward():
    _skip_without_cuda_kernel('voxel_pooling_forward')
    depth, context, ranks, grid_shape = _random_case(13, batch=1, cams=6, bins=20, height=8,
                                                     width=22, channels=64,
                                                     grid_shape=(40, 40, 8), spread=1.1)
    grad = torch.randn(1, *grid_shape, 64, generator=torch.Generator().manual_seed(14))
    results = []
    for impl, device in (('cpu', 'cpu'), ('cuda', 'cuda')):
        # detach first: .to('cpu') returns the case's own tensor, and a copy of a tensor that
        # requires grad is no leaf (its .grad stays None).
        d = depth.detach().to(device).requires_grad_()
        c = context.detach().to(device).requires_grad_()
        out = voxel_pooling(d, c, *_to(ranks, device), grid_shape, impl=impl)
        out.backward(grad.to(device))
        results.append([t.detach().cpu() for t in (out, d.grad, c.grad)])
    (out, gd, gc), (cuda_out, cuda_gd, cuda_gc) = results
    # Same additions in the same order (nvcc --fmad=false) in the forward.
    assert torch.allclose(cuda_out, out, atol=1e-6, rtol=1e-6)
    assert torch.allclose(cuda_gd, gd, atol=1e-5, rtol=1e-5)
    assert torch.allclose(cuda_gc, gc, atol=1e-5, rtol=1e-5)


def test_bad_inputs_raise_one_clear_error():
    depth, context, ranks, grid_shape = _random_case(12)
    rd, rf, rv, starts, lengths = ranks
    with pytest.raises(ValueError, match=r'depth must be a float32/float64 \[B, N, D, H, W\]'):
        voxel_pooling(depth[0], context, *ranks, grid_shape)
    with pytest.raises(ValueError, match=r'context must be \[B, N, H, W, C\]'):
        voxel_pooling(depth, context[:, :2], *ranks, grid_shape)
    with pytest.raises(ValueError, match='dtype and device'):
        voxel_pooling(depth, context.double(), *ranks, grid_shape)
    with pytest.raises(ValueError, match='grid_shape'):
        voxel_pooling(depth, context, *ranks, (16, 16))
    with pytest.raises(ValueError, match='integer tensor'):
        voxel_pooling(depth, context, rd.float(), rf, rv, starts, lengths, grid_shape)
    with pytest.raises(ValueError, match='one length'):
        voxel_pooling(depth, context, rd[:-1], rf, rv, starts, lengths, grid_shape)
    with pytest.raises(ValueError, match=r'ranks_feat must lie in \[0, 144\)'):
        voxel_pooling(depth, context, rd, rf + 144, rv, starts, lengths, grid_shape)
    with pytest.raises(ValueError, match='ranks_voxel must lie'):
        voxel_pooling(depth, context, *ranks, (16, 16, 3))
    with pytest.raises(ValueError, match='ranks_voxel must be sorted'):
        voxel_pooling(depth, context, rd, rf, rv.flip(0), starts, lengths, grid_shape)
    with pytest.raises(ValueError, match='cover the points in order'):
        voxel_pooling(depth, context, rd, rf, rv, starts, lengths + 1, grid_shape)
    merged_starts = torch.cat([starts[:1], starts[2:]])
    merged_lengths = torch.cat([lengths[:2].sum(0, keepdim=True), lengths[2:]])
    with pytest.raises(ValueError, match='exactly one run'):
        voxel_pooling(depth, context, rd, rf, rv, merged_starts, merged_lengths, grid_shape)
    with pytest.raises(ValueError, match='impl'):
        voxel_pooling(depth, context, *ranks, grid_shape, impl='gpu')
    with pytest.raises(ValueError, match=r'coords must be \[B, N, D, H, W, 3\]'):
        voxel_pooling_prepare(torch.zeros(2, 3, 3), GRID_MIN, VOXEL, grid_shape)
