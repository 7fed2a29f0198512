// Ray casting through an occupancy grid: schema and CPU kernel.
#include <ATen/Parallel.h>
#include <torch/library.h>
#include <torch/types.h>

#include "input_checks.h"
#include "ray_cast.h"

namespace gdocc {

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
