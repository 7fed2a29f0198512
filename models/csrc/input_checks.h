// The argument checks of every op's entry points, the same for the CPU and the CUDA kernels,
// so both backends refuse the same inputs with the same message. Value ranges (ranks inside
// their tensors, sorted voxels) are checked once in Python (models/ops/*.py) before the call.
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#include <cstdint>

#include "multiview_sampling.h"

namespace gdocc {

inline void check_multiview_sampling_inputs(at::TensorList features, const at::Tensor& points,
                                            const at::Tensor& view_index,
                                            const at::Tensor& level_weights) {
  const int64_t num_levels = static_cast<int64_t>(features.size());
  TORCH_CHECK(num_levels >= 1 && num_levels <= kMaxSamplingLevels,
              "multiview_sampling: expected 1 to ", kMaxSamplingLevels, " feature levels, got ",
              num_levels);
  const auto& first = features[0];
  TORCH_CHECK(first.dim() == 5, "multiview_sampling: features must be [BG, V, H, W, C]");
  TORCH_CHECK(first.scalar_type() == at::kFloat || first.scalar_type() == at::kDouble,
              "multiview_sampling: features must be float32 or float64");
  for (const auto& level : features) {
    TORCH_CHECK(level.dim() == 5 && level.size(0) == first.size(0) &&
                    level.size(1) == first.size(1) && level.size(4) == first.size(4),
                "multiview_sampling: every level must be [BG, V, H_l, W_l, C] with one BG, V, C");
    TORCH_CHECK(level.scalar_type() == first.scalar_type() && level.device() == first.device(),
                "multiview_sampling: every level must share dtype and device");
  }
  const int64_t bg = first.size(0);
  TORCH_CHECK(points.dim() == 3 && points.size(0) == bg && points.size(2) == 2 &&
                  points.scalar_type() == first.scalar_type(),
              "multiview_sampling: points must be [BG, N, 2] with the features' dtype");
  const int64_t n = points.size(1);
  TORCH_CHECK(view_index.dim() == 2 && view_index.size(0) == bg && view_index.size(1) == n &&
                  view_index.scalar_type() == at::kLong,
              "multiview_sampling: view_index must be int64 [BG, N]");
  TORCH_CHECK(level_weights.dim() == 3 && level_weights.size(0) == bg &&
                  level_weights.size(1) == n && level_weights.size(2) == num_levels &&
                  level_weights.scalar_type() == first.scalar_type(),
              "multiview_sampling: level_weights must be [BG, N, L] with the features' dtype");
  for (const auto* t : {&points, &view_index, &level_weights}) {
    TORCH_CHECK(t->device() == first.device(),
                "multiview_sampling: all inputs must be on the same device");
  }
}

inline void check_multiview_sampling_grad_out(const at::Tensor& grad_out,
                                              at::TensorList features,
                                              const at::Tensor& points) {
  TORCH_CHECK(grad_out.dim() == 3 && grad_out.size(0) == points.size(0) &&
                  grad_out.size(1) == points.size(1) && grad_out.size(2) == features[0].size(4) &&
                  grad_out.scalar_type() == points.scalar_type() &&
                  grad_out.device() == points.device(),
              "multiview_sampling: grad_out must be [BG, N, C] with the features' dtype");
}

inline void check_ray_cast_inputs(const at::Tensor& occupied, const at::Tensor& origins,
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

inline void check_voxel_pooling_points(const at::Tensor& depth, const at::Tensor& context,
                                       const at::Tensor& ranks_depth,
                                       const at::Tensor& ranks_feat,
                                       const at::Tensor& ranks_voxel) {
  TORCH_CHECK(depth.scalar_type() == at::kFloat || depth.scalar_type() == at::kDouble,
              "voxel_pooling: depth must be float32 or float64");
  TORCH_CHECK(context.dim() == 2 && context.scalar_type() == depth.scalar_type(),
              "voxel_pooling: context must be [rows, C] with depth's dtype");
  for (const auto* ranks : {&ranks_depth, &ranks_feat, &ranks_voxel}) {
    TORCH_CHECK(ranks->dim() == 1 && ranks->scalar_type() == at::kLong &&
                    ranks->size(0) == ranks_depth.size(0),
                "voxel_pooling: ranks must be int64 [P] tensors of one length");
    TORCH_CHECK(ranks->device() == depth.device(),
                "voxel_pooling: all inputs must be on the same device");
  }
  TORCH_CHECK(context.device() == depth.device(),
              "voxel_pooling: all inputs must be on the same device");
}

inline void check_voxel_pooling_intervals(const at::Tensor& ranks_voxel,
                                          const at::Tensor& interval_starts,
                                          const at::Tensor& interval_lengths,
                                          int64_t num_voxels) {
  TORCH_CHECK(interval_starts.dim() == 1 && interval_starts.scalar_type() == at::kLong &&
                  interval_lengths.sizes() == interval_starts.sizes() &&
                  interval_lengths.scalar_type() == at::kLong,
              "voxel_pooling: interval_starts and interval_lengths must be int64 [K]");
  TORCH_CHECK(interval_starts.device() == ranks_voxel.device() &&
                  interval_lengths.device() == ranks_voxel.device(),
              "voxel_pooling: all inputs must be on the same device");
  TORCH_CHECK(num_voxels >= 0, "voxel_pooling: num_voxels must be >= 0");
}

inline void check_voxel_pooling_grad_out(const at::Tensor& grad_out, const at::Tensor& depth,
                                         const at::Tensor& context) {
  TORCH_CHECK(grad_out.dim() == 2 && grad_out.size(1) == context.size(1) &&
                  grad_out.scalar_type() == depth.scalar_type() &&
                  grad_out.device() == depth.device(),
              "voxel_pooling: grad_out must be [num_voxels, C] with depth's dtype and device");
}

}  // namespace gdocc
