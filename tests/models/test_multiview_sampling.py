"""Multi-scale multi-view sampling: compiled kernels against the grid_sample reference,
gradients, hand-built cases."""
import pytest
import torch

from models.ops import backend, multiview_sampling, multiview_sampling_reference, to_sampling_layout

# Compiled kernels this machine can run (a CUDA kernel needs a GPU too).
COMPILED = [impl for impl in ('cpu', 'cuda')
            if backend.has_kernel('multiview_sampling_forward', impl)
            and (impl == 'cpu' or torch.cuda.is_available())]
# The CUDA backward adds with atomics, so two runs may differ in the last bits.
NONDET_TOL = {'cuda': 1e-10}


def _random_case(seed, bg=2, views=3, channels=5, sizes=((6, 8), (3, 4)), queries=7, points=4,
                 used_views=None, dtype=torch.float32):
    """Random features, points partly outside the image (x, y in [-0.2, 1.2]), random views
    (only ``used_views`` of them when given, so the others get no samples; -1 for ~10% of
    the points) and positive level weights."""
    gen = torch.Generator().manual_seed(seed)
    features = [torch.randn(bg, views, h, w, channels, generator=gen, dtype=dtype)
                for h, w in sizes]
    pts = torch.rand(bg, queries, points, 2, generator=gen, dtype=dtype) * 1.4 - 0.2
    choices = torch.tensor(used_views if used_views is not None else range(views))
    view_index = choices[torch.randint(len(choices), (bg, queries, points), generator=gen)]
    view_index[torch.rand(bg, queries, points, generator=gen) < 0.1] = -1
    weights = torch.rand(bg, queries, points, len(sizes), generator=gen, dtype=dtype)
    return features, pts, view_index, weights


def _device_for(impl):
    return torch.device('cuda' if impl == 'cuda' else 'cpu')


def _to(case, device):
    features, pts, view_index, weights = case
    return [f.to(device) for f in features], pts.to(device), view_index.to(device), \
        weights.to(device)


@pytest.mark.skipif(not COMPILED, reason='models._C is not built')
@pytest.mark.parametrize('impl', COMPILED)
@pytest.mark.parametrize('seed,kwargs', [
    (0, {}),
    (1, dict(bg=4, views=12, channels=32, sizes=((16, 44), (8, 22), (4, 11), (2, 6)),
             queries=50, points=8)),
    (2, dict(views=6, used_views=[1, 4], channels=1)),  # views without samples
    (3, dict(sizes=((1, 1),), channels=40)),            # one level, a single pixel
    (4, dict(bg=1, sizes=((5, 3), (9, 2), (2, 7)), points=1)),
])
@pytest.mark.parametrize('align_corners', [False, True])
def test_compiled_forward_matches_reference(impl, seed, kwargs, align_corners):
    case = _random_case(seed, **kwargs)
    dev = _device_for(impl)
    out = multiview_sampling(*_to(case, dev), impl=impl, align_corners=align_corners)
    expected = multiview_sampling_reference(*case, align_corners=align_corners)
    assert out.shape == (*case[1].shape[:-1], case[0][0].shape[-1])
    assert torch.allclose(out.cpu(), expected, atol=1e-5, rtol=1e-5)


@pytest.fixture(params=['reference'] + COMPILED)
def impl(request):
    return request.param


@pytest.mark.parametrize('align_corners', [False, True])
def test_gradcheck_in_float64(impl, align_corners):
    features, pts, view_index, weights = _to(
        _random_case(5, bg=2, views=2, channels=3, sizes=((3, 4), (2, 3)), queries=3, points=2,
                     dtype=torch.float64), _device_for(impl))
    inputs = [f.requires_grad_() for f in features] + [pts.requires_grad_(),
                                                       weights.requires_grad_()]

    def sample(level0, level1, points, level_weights):
        return multiview_sampling([level0, level1], points, view_index, level_weights,
                                  impl=impl, align_corners=align_corners)

    assert torch.autograd.gradcheck(sample, inputs, nondet_tol=NONDET_TOL.get(impl, 0.0))


@pytest.mark.skipif(not COMPILED, reason='models._C is not built')
@pytest.mark.parametrize('impl', COMPILED)
@pytest.mark.parametrize('align_corners', [False, True])
def test_compiled_gradients_match_reference(impl, align_corners):
    case = _random_case(6, bg=3, views=6, channels=16, sizes=((12, 20), (6, 10), (3, 5)),
                        queries=40, points=6, used_views=[0, 2, 3, 5])
    grad = torch.randn(*case[1].shape[:-1], 16, generator=torch.Generator().manual_seed(7))
    results = []
    for name, device in ((impl, _device_for(impl)), ('reference', torch.device('cpu'))):
        features, pts, view_index, weights = _to(case, device)
        leaves = [f.requires_grad_() for f in features] + [pts.requires_grad_(),
                                                           weights.requires_grad_()]
        multiview_sampling(features, pts, view_index, weights, impl=name,
                           align_corners=align_corners).backward(grad.to(device))
        results.append([leaf.grad.cpu() for leaf in leaves])
    for got, expected in zip(*results):
        assert torch.allclose(got, expected, atol=1e-5, rtol=1e-4)


@pytest.mark.skipif('cpu' not in COMPILED, reason='models._C is not built')
def test_compiled_cpu_backward_is_deterministic():
    case = _random_case(8, views=2, channels=8, queries=30)
    grads = []
    for _ in range(2):
        features, pts, view_index, weights = case
        features = [f.clone().requires_grad_() for f in features]
        multiview_sampling(features, pts, view_index, weights, impl='cpu').sum().backward()
        grads.append([f.grad for f in features])
    assert all(torch.equal(a, b) for a, b in zip(*grads))


def _one_image(values, height, width):
    """[1, 1, H, W, C=2] feature whose channel 1 is channel 0 negated."""
    image = torch.as_tensor(values, dtype=torch.float32).view(height, width)
    return torch.stack([image, -image], -1).view(1, 1, height, width, 2)


def _sample_at(impl, features, xy, weights=None):
    dev = _device_for(impl)
    pts = torch.tensor(xy, dtype=torch.float32).view(1, -1, 1, 2)
    views = torch.zeros(1, pts.shape[1], 1, dtype=torch.long)
    if weights is None:
        weights = torch.ones(1, pts.shape[1], 1, len(features))
    out = multiview_sampling([f.to(dev) for f in features], pts.to(dev), views.to(dev),
                             weights.to(dev), impl=impl)
    return out.cpu()[0, :, 0]


def test_pixel_centres_midpoints_and_padding(impl):
    # 3 x 4 image, pixel (column i, row j) = 10 j + i; centres at ((i + .5) / 4, (j + .5) / 3).
    feature = _one_image([[10 * j + i for i in range(4)] for j in range(3)], 3, 4)
    out = _sample_at(impl, [feature], [
        [2.5 / 4, 1.5 / 3],          # centre of pixel (2, 1): 12
        [2.0 / 4, 1.5 / 3],          # midpoint of (1, 1) and (2, 1): 11.5
        [2.0 / 4, 2.0 / 3],          # middle of (1, 1), (2, 1), (1, 2), (2, 2): 16.5
        [0.0, 1.5 / 3],              # left edge of pixel (0, 1): half of it, half padding
        [0.5 / 4, 1.0 + 0.25 / 3],   # below the last row by 3/4 pixel: a quarter of (0, 2)
        [1.2, 0.5],                  # far outside: zero
    ])
    expected = torch.tensor([12.0, 11.5, 16.5, 10.0 / 2, 20.0 / 4, 0.0])
    assert torch.allclose(out[:, 0], expected, atol=1e-5)
    assert torch.allclose(out[:, 1], -expected, atol=1e-5)
    left = _sample_at(impl, [_one_image([[8.0, 1.0]], 1, 2)], [[0.0, 0.5]])
    assert torch.allclose(left[:, 0], torch.tensor([4.0]))


def test_levels_mix_with_their_weights_and_views_are_selected(impl):
    level0 = torch.stack([_one_image([[1.0, 2.0], [3.0, 4.0]], 2, 2)[0, 0],
                          _one_image([[5.0, 6.0], [7.0, 8.0]], 2, 2)[0, 0]]).unsqueeze(0)
    level1 = torch.stack([_one_image([[100.0]], 1, 1)[0, 0],
                          _one_image([[200.0]], 1, 1)[0, 0]]).unsqueeze(0)
    dev = _device_for(impl)
    pts = torch.tensor([[0.25, 0.75], [0.75, 0.25], [0.5, 0.5]]).view(1, 3, 1, 2)
    views = torch.tensor([0, 1, -1]).view(1, 3, 1)
    weights = torch.tensor([[0.5, 0.25], [2.0, 1.0], [1.0, 1.0]]).view(1, 3, 1, 2)
    out = multiview_sampling([level0.to(dev), level1.to(dev)], pts.to(dev), views.to(dev),
                             weights.to(dev), impl=impl).cpu()[0, :, 0, 0]
    # Level 0: view 0's pixel (column 0, row 1) = 3, view 1's pixel (1, 0) = 6. Level 1 has
    # one pixel, seen a quarter pixel off its centre in x and y: 3/4 x 3/4 of it, the rest
    # zero padding. View -1 reads nothing.
    expected = torch.tensor([0.5 * 3 + 0.25 * 100 * 0.5625, 2 * 6 + 200 * 0.5625, 0.0])
    assert torch.allclose(out, expected)


def test_to_sampling_layout_groups_channels_and_moves_them_last():
    batch, views, groups, channels, height, width = 2, 3, 2, 8, 4, 5
    feature = torch.randn(batch * views, channels, height, width)
    laid = to_sampling_layout(feature, views, groups)
    assert laid.shape == (batch * groups, views, height, width, channels // groups)
    assert laid.is_contiguous()
    b, g, v, y, x, c = 1, 1, 2, 3, 4, 2
    assert laid[b * groups + g, v, y, x, c] == feature[b * views + v, g * 4 + c, y, x]
    with pytest.raises(ValueError, match='to_sampling_layout'):
        to_sampling_layout(feature, 4, groups)


def test_cuda_matches_compiled_cpu_forward_and_backward():
    if not torch.cuda.is_available():
        pytest.skip('no CUDA device on this machine: CUDA parity runs on a GPU machine')
    if not backend.has_kernel('multiview_sampling_forward', 'cuda'):
        pytest.skip('models._C was built without CUDA kernels')
    if not backend.has_kernel('multiview_sampling_forward', 'cpu'):
        pytest.skip('models._C is not built')
    case = _random_case(10, bg=4, views=12, channels=40, sizes=((16, 44), (8, 22), (4, 11)),
                        queries=200, points=8, used_views=list(range(10)))
    grad = torch.randn(*case[1].shape[:-1], 40, generator=torch.Generator().manual_seed(11))
    results = []
    for impl in ('cpu', 'cuda'):
        # Fresh leaves per pass: .to('cpu') returns the case's own tensors, and a copy of a
        # tensor that requires grad is no leaf (its .grad stays None).
        features, pts, view_index, weights = _to(case, torch.device(impl))
        features = [f.detach().requires_grad_() for f in features]
        pts, weights = pts.detach().requires_grad_(), weights.detach().requires_grad_()
        leaves = features + [pts, weights]
        out = multiview_sampling(features, pts, view_index, weights, impl=impl)
        out.backward(grad.to(impl))
        results.append([out.detach().cpu()] + [leaf.grad.cpu() for leaf in leaves])
    cpu, cuda = results
    # Same taps, weights and additions in the same order (nvcc --fmad=false) in the forward;
    # the backward sums in another order (atomics, warp reductions), so its error scales with
    # the summed magnitudes: bounded relative to each gradient's largest value (the point
    # gradients reach ~1e3 and cancel to near zero elsewhere; the compiled CPU kernel against
    # the reference differs by up to 1.4e-6 of that scale on this case).
    assert torch.allclose(cuda[0], cpu[0], atol=1e-6, rtol=1e-6)
    for got, expected in zip(cuda[1:], cpu[1:]):
        assert (got - expected).abs().max() <= 1e-5 * expected.abs().max()


def test_bad_inputs_raise_one_clear_error():
    features, pts, view_index, weights = _random_case(9)
    with pytest.raises(ValueError, match='list of 1 to 8'):
        multiview_sampling([], pts, view_index, weights)
    with pytest.raises(ValueError, match=r'level 1 must be \[BG, V, H_l, W_l, C\]'):
        multiview_sampling([features[0], features[1][:, :2]], pts, view_index, weights)
    with pytest.raises(ValueError, match='float32/float64'):
        multiview_sampling([f.half() for f in features], pts, view_index, weights)
    with pytest.raises(ValueError, match=r'points_2d must be \[BG=2, Q, P, 2\]'):
        multiview_sampling(features, pts[..., :1], view_index, weights)
    with pytest.raises(ValueError, match='view_index must be an integer tensor'):
        multiview_sampling(features, pts, view_index.float(), weights)
    with pytest.raises(ValueError, match='one weight per level'):
        multiview_sampling(features, pts, view_index, weights[..., :1])
    with pytest.raises(ValueError, match="points_2d must have the features' dtype"):
        multiview_sampling(features, pts.double(), view_index, weights)
    with pytest.raises(ValueError, match='view_index must be < V = 3'):
        multiview_sampling(features, pts, view_index + 3, weights)
    with pytest.raises(ValueError, match='impl'):
        multiview_sampling(features, pts, view_index, weights, impl='fast')
