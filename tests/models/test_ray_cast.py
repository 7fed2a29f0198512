"""Ray casting: compiled kernels against the reference, and hand-built cases."""
import math
import warnings

import pytest
import torch

from models.ops import backend, ray_cast, ray_cast_reference

GRID_MIN = (-40.0, -40.0, -1.0)
VOXEL = 0.4
COMPILED = [impl for impl in ('cpu', 'cuda') if backend.has_kernel('ray_cast', impl)]


def _random_case(seed, shape=(40, 30, 12), num_rays=4000, density=0.05):
    gen = torch.Generator().manual_seed(seed)
    occupied = torch.rand(shape, generator=gen) < density
    extent = torch.tensor(shape, dtype=torch.float64) * VOXEL
    origins = torch.tensor(GRID_MIN, dtype=torch.float64) + \
        torch.rand(num_rays, 3, generator=gen, dtype=torch.float64) * extent
    directions = torch.randn(num_rays, 3, generator=gen, dtype=torch.float64)
    return occupied, origins, directions


def _device_for(impl):
    return torch.device('cuda' if impl == 'cuda' else 'cpu')


@pytest.mark.skipif(not COMPILED, reason='models._C is not built')
@pytest.mark.parametrize('impl', COMPILED)
@pytest.mark.parametrize('seed,density', [(0, 0.0), (1, 0.02), (2, 0.2), (3, 0.6)])
def test_compiled_matches_reference_on_random_grids(impl, seed, density):
    occupied, origins, directions = _random_case(seed, density=density)
    dev = _device_for(impl)
    dist, voxel = ray_cast(occupied.to(dev), origins.to(dev), directions.to(dev),
                           GRID_MIN, VOXEL, impl=impl)
    ref_dist, ref_voxel = ray_cast_reference(occupied, origins, directions, GRID_MIN, VOXEL)
    assert torch.equal(voxel.cpu(), ref_voxel)
    assert torch.allclose(dist.cpu(), ref_dist, atol=1e-4, rtol=0)


def test_cuda_parity_needs_a_gpu():
    if not torch.cuda.is_available():
        pytest.skip('no CUDA device on this machine: CUDA parity runs on a GPU machine')
    if not backend.has_kernel('ray_cast', 'cuda'):
        pytest.skip('models._C was built without CUDA kernels')
    assert 'cuda' in COMPILED


@pytest.mark.skipif(not COMPILED, reason='models._C is not built')
@pytest.mark.parametrize('impl', COMPILED)
@pytest.mark.parametrize('seed', [4, 5])
def test_compiled_matches_reference_for_origins_outside_the_grid(impl, seed):
    occupied, _, directions = _random_case(seed, density=0.1)
    gen = torch.Generator().manual_seed(seed)
    extent = torch.tensor(occupied.shape, dtype=torch.float64) * VOXEL
    # Origins up to half the grid's extent beyond each face, most of them outside.
    origins = torch.tensor(GRID_MIN, dtype=torch.float64) + \
        (torch.rand(len(directions), 3, generator=gen, dtype=torch.float64) * 2 - 0.5) * extent
    dev = _device_for(impl)
    dist, voxel = ray_cast(occupied.to(dev), origins.to(dev), directions.to(dev),
                           GRID_MIN, VOXEL, impl=impl)
    ref_dist, ref_voxel = ray_cast_reference(occupied, origins, directions, GRID_MIN, VOXEL)
    assert torch.equal(voxel.cpu(), ref_voxel)
    assert torch.allclose(dist.cpu(), ref_dist, atol=1e-4, rtol=0)
    assert bool((ref_dist == -VOXEL).any()) and bool((ref_dist > 0).any())


@pytest.fixture(params=['reference'] + COMPILED)
def impl(request):
    return request.param


def _flat_ground(top_layer=2):
    """Occ3D-sized grid whose lowest ``top_layer`` z-layers are occupied (top at -0.2 m)."""
    occupied = torch.zeros(200, 200, 16, dtype=torch.bool)
    occupied[:, :, :top_layer] = True
    return occupied, GRID_MIN[2] + top_layer * VOXEL


def test_flat_ground_distances_match_the_analytic_value(impl):
    occupied, ground_z = _flat_ground()
    origin = torch.tensor([0.9858, 0.0, 1.8402], dtype=torch.float64)
    pitches = torch.tensor([-0.785, -0.46, -0.32, -0.2, -0.12, -0.1], dtype=torch.float64)
    azimuths = torch.deg2rad(torch.arange(0, 360, 7, dtype=torch.float64))
    p, a = torch.meshgrid(pitches, azimuths, indexing='ij')
    dirs = torch.stack([p.cos() * a.cos(), p.cos() * a.sin(), p.sin()], -1).reshape(-1, 3)
    dev = _device_for(impl)
    dist, voxel = ray_cast(occupied.to(dev), origin.expand_as(dirs).to(dev), dirs.to(dev),
                           GRID_MIN, VOXEL, impl=impl)
    analytic = (origin[2] - ground_z) / (-p.sin()).reshape(-1)
    # The ray stops where it leaves the first ground voxel: at most one voxel diagonal on.
    error = dist.cpu() - analytic
    assert bool((error >= -1e-9).all()) and bool((error <= VOXEL * math.sqrt(3)).all())
    assert bool((voxel[:, 2].cpu() == 1).all())


def test_rays_that_hit_nothing_stop_in_the_last_voxel_inside_the_grid(impl):
    occupied, _ = _flat_ground()
    origin = torch.tensor([[0.2, 0.2, 1.9]], dtype=torch.float64).repeat(3, 1)
    dirs = torch.tensor([[1.0, 0, 0], [0, -1.0, 0], [0.3, 0.2, 0.1]], dtype=torch.float64)
    dev = _device_for(impl)
    dist, voxel = ray_cast(occupied.to(dev), origin.to(dev), dirs.to(dev), GRID_MIN, VOXEL,
                           impl=impl)
    unit = dirs / dirs.norm(dim=1, keepdim=True)
    upper = torch.tensor([40.0, 40.0, 5.4], dtype=torch.float64)
    lower = torch.tensor(GRID_MIN, dtype=torch.float64)
    with torch.no_grad():
        bound = torch.where(unit > 0, upper, lower)
        t_axis = torch.where(unit != 0, (bound - origin) / unit, torch.tensor(float('inf')))
    assert torch.allclose(dist.cpu(), t_axis.min(dim=1).values, atol=1e-9)
    assert voxel[0].tolist() == [199, 100, 7]
    assert voxel[1].tolist() == [100, 0, 7]
    assert voxel[2, 2].item() == 15  # leaves through the top


def test_axis_aligned_ray_stops_at_a_wall_and_reports_its_far_face(impl):
    occupied = torch.zeros(200, 200, 16, dtype=torch.bool)
    occupied[150, :, :] = True
    origin = torch.tensor([[0.2, 0.2, 1.9]], dtype=torch.float64)  # inside voxel (100, 100, 7)
    dev = _device_for(impl)
    dist, voxel = ray_cast(occupied.to(dev), origin.to(dev),
                           torch.tensor([[2.0, 0, 0]], dtype=torch.float64).to(dev),
                           GRID_MIN, VOXEL, impl=impl)
    assert voxel.cpu().tolist() == [[150, 100, 7]]
    assert dist.item() == pytest.approx((151 - 100.5) * VOXEL, abs=1e-9)


def test_origin_inside_an_occupied_voxel_stops_there(impl):
    occupied = torch.zeros(10, 10, 10, dtype=torch.bool)
    occupied[5, 5, 5] = True
    dev = _device_for(impl)
    dist, voxel = ray_cast(occupied.to(dev), torch.tensor([[5.25, 5.5, 5.5]]).to(dev),
                           torch.tensor([[-1.0, 0, 0]]).to(dev), impl=impl)
    assert voxel.cpu().tolist() == [[5, 5, 5]]
    assert dist.item() == pytest.approx(0.25)


def test_bad_inputs_raise_one_clear_error():
    occupied = torch.zeros(4, 4, 4, dtype=torch.bool)
    with pytest.raises(ValueError, match='finite'):
        ray_cast(occupied, torch.tensor([[float('nan'), 1, 1]]), torch.tensor([[1.0, 0, 0]]))
    with pytest.raises(ValueError, match='non-zero'):
        ray_cast(occupied, torch.tensor([[1.0, 1, 1]]), torch.tensor([[0.0, 0, 0]]))
    with pytest.raises(ValueError, match=r'\[N, 3\]'):
        ray_cast(occupied, torch.tensor([1.0, 1, 1]), torch.tensor([1.0, 0, 0]))
    with pytest.raises(ValueError, match='impl'):
        ray_cast(occupied, torch.tensor([[1.0, 1, 1]]), torch.tensor([[1.0, 0, 0]]), impl='x')


def test_missing_extension_falls_back_to_the_reference_with_one_warning(monkeypatch):
    monkeypatch.setattr(backend, 'has_kernel', lambda op, device: False)
    backend._warn_once.cache_clear()
    occupied, origins, directions = _random_case(5, num_rays=50)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        first = ray_cast(occupied, origins, directions, GRID_MIN, VOXEL)
        ray_cast(occupied, origins, directions, GRID_MIN, VOXEL)
    messages = [str(w.message) for w in caught if 'pure-PyTorch reference' in str(w.message)]
    assert len(messages) == 1
    expected = ray_cast_reference(occupied, origins, directions, GRID_MIN, VOXEL)
    assert torch.equal(first[1], expected[1])
    with pytest.raises(RuntimeError, match='no compiled cpu kernel'):
        ray_cast(occupied, origins, directions, GRID_MIN, VOXEL, impl='cpu')
    backend._warn_once.cache_clear()


def _cast(impl, occupied, origins, dirs, grid_min=(0.0, 0.0, 0.0), voxel=1.0):
    dev = _device_for(impl)
    dist, vox = ray_cast(occupied.to(dev), torch.tensor(origins, dtype=torch.float64).to(dev),
                         torch.tensor(dirs, dtype=torch.float64).to(dev), grid_min, voxel,
                         impl=impl)
    return dist.cpu(), vox.cpu()


def test_origin_above_the_grid_enters_from_the_top_or_never(impl):
    # Occ3D grid, ground in the two lowest layers; the origin 1.6 m above the grid's top
    # (z = 7.0 m). Straight down, the ray walks the 4 voxels above the grid, enters it, and
    # stops in layer 1 (the first occupied one), which it leaves at z = -0.6 m: 7.6 m on.
    occupied, _ = _flat_ground()
    dist, voxel = _cast(impl, occupied, [[0.2, 0.2, 7.0]] * 3,
                        [[0, 0, -1.0], [0, 0, 1.0], [1.0, 0, 0]], GRID_MIN, VOXEL)
    assert voxel[0].tolist() == [100, 100, 1]
    assert dist[0].item() == pytest.approx(7.0 - (-0.6), abs=1e-9)
    # Up or sideways it never enters: SparseOcc's kernel leaves distance -1 voxel and
    # voxel (0, 0, 0).
    assert voxel[1:].tolist() == [[0, 0, 0], [0, 0, 0]]
    assert dist[1:].tolist() == [-VOXEL, -VOXEL]


def test_origin_below_the_grid_starts_by_truncation(impl):
    occupied = torch.zeros(4, 4, 4, dtype=torch.bool)
    occupied[1, 1, 0] = True
    # z = -0.5 voxel: truncated to layer 0 (not floored to -1), so it starts inside the
    # occupied voxel; looking down, the exit "distance" is t = (0 - (-0.5)) / -1 = -0.5.
    dist, voxel = _cast(impl, occupied, [[1.5, 1.5, -0.5]] * 2, [[0, 0, -1.0], [0, 0, 1.0]])
    assert voxel.tolist() == [[1, 1, 0], [1, 1, 0]]
    assert dist.tolist() == [-0.5, 1.5]
    # z = -2.5: starts at -2 (truncation), walks up through -1 and stops in layer 0,
    # leaving it at z = 1: 3.5 from the origin.
    dist, voxel = _cast(impl, occupied, [[1.5, 1.5, -2.5]], [[0, 0, 1.0]])
    assert voxel.tolist() == [[1, 1, 0]] and dist.item() == pytest.approx(3.5)


def test_boundary_ties_go_to_the_later_axis(impl):
    # From the corner (1, 1, ·) diagonally in x-y, x and y boundaries coincide at every
    # step: SparseOcc's kernel steps y first (strict <), so the ray visits (1, 2) not (2, 1).
    occupied = torch.zeros(4, 4, 4, dtype=torch.bool)
    occupied[1, 2, 0] = occupied[2, 1, 0] = True
    dist, voxel = _cast(impl, occupied, [[1.0, 1.0, 0.5]], [[1.0, 1.0, 0.0]])
    assert voxel.tolist() == [[1, 2, 0]]
    assert dist.item() == pytest.approx(math.sqrt(2))
    # A three-way tie steps z.
    occupied = torch.zeros(4, 4, 4, dtype=torch.bool)
    occupied[1, 1, 2] = occupied[1, 2, 1] = occupied[2, 1, 1] = True
    dist, voxel = _cast(impl, occupied, [[1.0, 1.0, 1.0]], [[1.0, 1.0, 1.0]])
    assert voxel.tolist() == [[1, 1, 2]]
    assert dist.item() == pytest.approx(math.sqrt(3))
