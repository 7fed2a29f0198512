// Ray casting through an occupancy grid: CUDA kernel (one thread per ray).
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>
#include <torch/types.h>

#include "input_checks.h"
#include "ray_cast.h"

namespace gdocc {

__global__ void ray_cast_kernel(const bool* __restrict__ occupied, int64_t size_x, int64_t size_y,
                                int64_t size_z, double min_x, double min_y, double min_z,
                                double voxel_size, const double* __restrict__ origins,
                                const double* __restrict__ directions, int64_t num_rays,
                                double* __restrict__ distance, int64_t* __restrict__ voxels) {
  const int64_t r = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (r >= num_rays) return;
  const int64_t size[3] = {size_x, size_y, size_z};
  const double grid_min[3] = {min_x, min_y, min_z};
  double origin[3], direction[3];
  int64_t voxel[3];
  for (int a = 0; a < 3; ++a) {
    origin[a] = origins[3 * r + a];
    direction[a] = directions[3 * r + a];
  }
  cast_metric_ray(occupied, size, grid_min, voxel_size, origin, direction, distance + r, voxel);
  for (int a = 0; a < 3; ++a) voxels[3 * r + a] = voxel[a];
}

std::tuple<at::Tensor, at::Tensor> ray_cast_cuda(const at::Tensor& occupied_in,
                                                 const at::Tensor& origins_in,
                                                 const at::Tensor& directions_in,
                                                 at::ArrayRef<double> grid_min,
                                                 double voxel_size) {
  check_ray_cast_inputs(occupied_in, origins_in, directions_in, grid_min);
  const c10::cuda::CUDAGuard guard(origins_in.device());
  const auto occupied = occupied_in.contiguous();
  const auto origins = origins_in.contiguous();
  const auto directions = directions_in.contiguous();
  const int64_t num_rays = origins.size(0);
  auto distance = at::empty({num_rays}, origins.options());
  auto voxels = at::empty({num_rays, 3}, origins.options().dtype(at::kLong));
  if (num_rays == 0) return {distance, voxels};

  constexpr int threads = 256;
  const int64_t blocks = (num_rays + threads - 1) / threads;
  ray_cast_kernel<<<blocks, threads, 0, at::cuda::getCurrentCUDAStream()>>>(
      occupied.data_ptr<bool>(), occupied.size(0), occupied.size(1), occupied.size(2),
      grid_min[0], grid_min[1], grid_min[2], voxel_size, origins.data_ptr<double>(),
      directions.data_ptr<double>(), num_rays, distance.data_ptr<double>(),
      voxels.data_ptr<int64_t>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return {distance, voxels};
}

}  // namespace gdocc

TORCH_LIBRARY_IMPL(gdocc, CUDA, m) { m.impl("ray_cast", &gdocc::ray_cast_cuda); }
