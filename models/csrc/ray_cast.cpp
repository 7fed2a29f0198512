// Ray casting through an occupancy grid: schema and CPU kernel.
#include <ATen/Parallel.h>
#include <torch/library.h>
#include <torch/types.h>

#include "ray_cast.h"

namespace gdocc {

void check_ray_cast_inputs(const at::Tensor& occupied, const at::Tensor& origins,
                           const at::Tensor& directions, at::ArrayRef<double> grid_min) {
  TORCH_CHECK(occupied.dim() == 3 && occupied.scalar_type() == at::kBool,
              "ray_cast: occupied must be a bool tensor [X, Y, Z]");
  TORCH_CHECK(origins.dim() == 2 && origins.size(1) == 3 &&
                  origins.scalar_type() == at::kDouble,
              "ray_cast: origins must be a float64 tensor [N, 3]");
  TORCH_CHECK(directions.sizes() == origins.sizes() && directions.scalar_type() == at::kDouble,
              "ray_cast: directions must be a float64 tensor shaped like origins");
  TORCH_CHECK(occupied.device() == origins.device() && origins.device() == directions.device(),
              "ray_cast: all inputs must be on the same device");
  TORCH_CHECK(grid_min.size() == 3, "ray_cast: grid_min must hold 3 values");
}

std::tuple<at::Tensor, at::Tensor> ray_cast_cpu(const at::Tensor& occupied_in,
                                                const at::Tensor& origins_in,
                                                const at::Tensor& directions_in,
                                                at::ArrayRef<double> grid_min_in,
                                                double voxel_size) {
  check_ray_cast_inputs(occupied_in, origins_in, directions_in, grid_min_in);
  const auto occupied = occupied_in.contiguous();
  const auto origins = origins_in.contiguous();
  const auto directions = directions_in.contiguous();
  const int64_t num_rays = origins.size(0);
  auto distance = at::empty({num_rays}, origins.options());
  auto voxels = at::empty({num_rays, 3}, origins.options().dtype(at::kLong));

  const int64_t size[3] = {occupied.size(0), occupied.size(1), occupied.size(2)};
  const double grid_min[3] = {grid_min_in[0], grid_min_in[1], grid_min_in[2]};
  const bool* occ = occupied.data_ptr<bool>();
  const double* org = origins.data_ptr<double>();
  const double* dir = directions.data_ptr<double>();
  double* d_out = distance.data_ptr<double>();
  int64_t* v_out = voxels.data_ptr<int64_t>();

  at::parallel_for(0, num_rays, 1024, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      cast_metric_ray(occ, size, grid_min, voxel_size, org + 3 * r, dir + 3 * r, d_out + r,
                      v_out + 3 * r);
    }
  });
  return {distance, voxels};
}

}  // namespace gdocc

TORCH_LIBRARY_FRAGMENT(gdocc, m) {
  m.def(
      "ray_cast(Tensor occupied, Tensor origins, Tensor directions, float[] grid_min, "
      "float voxel_size) -> (Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(gdocc, CPU, m) { m.impl("ray_cast", &gdocc::ray_cast_cpu); }
