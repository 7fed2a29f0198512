// Multi-scale multi-view bilinear sampling: CUDA kernels (layouts in multiview_sampling.cpp).
//
// Forward: one thread per (sample, channel); features are channels last, so the threads of a
// warp read neighbouring channels of the same pixels (coalesced). Backward: one warp per
// sample, lanes over channels; feature gradients go out with atomic adds (samples from many
// warps hit the same pixels), the per-sample gradients (points, level weights) are warp
// reductions written by lane 0.
#include <ATen/cuda/Atomic.cuh>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>
#include <torch/types.h>

#include <vector>

#include "host_device.h"
#include "input_checks.h"
#include "multiview_sampling.h"

namespace gdocc {

namespace {

constexpr int kThreads = 256;
constexpr int kWarp = 32;

template <typename scalar_t>
__device__ __forceinline__ scalar_t warp_sum(scalar_t value) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) {
    value += __shfl_xor_sync(0xffffffffu, value, offset);
  }
  return value;
}

template <typename scalar_t>
__global__ void multiview_sampling_forward_kernel(
    LevelTable<const scalar_t*> table, int num_levels, const scalar_t* __restrict__ points,
    const int64_t* __restrict__ view_index, const scalar_t* __restrict__ level_weights,
    int64_t num_samples, int64_t per_batch, int64_t num_views, int64_t channels,
    scalar_t* __restrict__ out) {
  const int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (idx >= num_samples * channels) return;
  const int64_t s = idx / channels, c = idx % channels;
  const int64_t view = view_index[s];
  scalar_t acc = 0;
  if (view >= 0) {
    const int64_t image = (s / per_batch) * num_views + view;
    BilinearTaps<scalar_t> taps;
    for (int l = 0; l < num_levels; ++l) {
      const int64_t h = table.height[l], w = table.width[l];
      bilinear_taps(points[2 * s], points[2 * s + 1], h, w, table.align_corners, &taps);
      const scalar_t* base = table.data[l] + image * h * w * channels + c;
      const scalar_t level_weight = level_weights[s * num_levels + l];
      for (int k = 0; k < 4; ++k) {
        if (taps.pixel[k] < 0) continue;
        const scalar_t tap_weight = level_weight * taps.weight[k];
        acc += tap_weight * base[taps.pixel[k] * channels];
      }
    }
  }
  out[idx] = acc;
}

template <typename scalar_t>
__global__ void multiview_sampling_backward_kernel(
    LevelTable<const scalar_t*> table, LevelTable<scalar_t*> grad_table, int num_levels,
    const scalar_t* __restrict__ grad_out, const scalar_t* __restrict__ points,
    const int64_t* __restrict__ view_index, const scalar_t* __restrict__ level_weights,
    int64_t num_samples, int64_t per_batch, int64_t num_views, int64_t channels,
    bool need_features, scalar_t* __restrict__ grad_points, scalar_t* __restrict__ grad_weights) {
  const int64_t s = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) / kWarp;
  const int lane = threadIdx.x % kWarp;
  // Whole warps leave together, so the shuffles below always see all 32 lanes.
  if (s >= num_samples) return;
  const int64_t view = view_index[s];
  if (view < 0) return;  // reads zero: its gradients stay zero
  const int64_t image = (s / per_batch) * num_views + view;
  const scalar_t* gs = grad_out + s * channels;
  const bool need_dots = grad_points != nullptr || grad_weights != nullptr;
  BilinearTaps<scalar_t> taps;
  scalar_t grad_x = 0, grad_y = 0;
  for (int l = 0; l < num_levels; ++l) {
    const int64_t h = table.height[l], w = table.width[l];
    bilinear_taps(points[2 * s], points[2 * s + 1], h, w, table.align_corners, &taps);
    const int64_t offset = image * h * w * channels;
    const scalar_t level_weight = level_weights[s * num_levels + l];
    scalar_t sampled = 0, d_u = 0, d_v = 0;  // this lane's channels only, summed below
    for (int k = 0; k < 4; ++k) {
      if (taps.pixel[k] < 0) continue;
      const int64_t row = offset + taps.pixel[k] * channels;
      const scalar_t tap_weight = level_weight * taps.weight[k];
      scalar_t dot = 0;
      for (int64_t c = lane; c < channels; c += kWarp) {
        if (need_features) gpuAtomicAdd(grad_table.data[l] + row + c, tap_weight * gs[c]);
        if (need_dots) dot += gs[c] * table.data[l][row + c];
      }
      sampled += taps.weight[k] * dot;
      d_u += taps.d_du[k] * dot;
      d_v += taps.d_dv[k] * dot;
    }
    if (!need_dots) continue;
    sampled = warp_sum(sampled);
    if (grad_weights != nullptr && lane == 0) grad_weights[s * num_levels + l] = sampled;
    grad_x += level_weight * d_u * static_cast<scalar_t>(pixel_span(w, table.align_corners));
    grad_y += level_weight * d_v * static_cast<scalar_t>(pixel_span(h, table.align_corners));
  }
  if (grad_points == nullptr) return;
  grad_x = warp_sum(grad_x);
  grad_y = warp_sum(grad_y);
  if (lane == 0) {
    grad_points[2 * s] = grad_x;
    grad_points[2 * s + 1] = grad_y;
  }
}

}  // namespace

at::Tensor multiview_sampling_forward_cuda(at::TensorList features_in,
                                           const at::Tensor& points_in,
                                           const at::Tensor& view_index_in,
                                           const at::Tensor& level_weights_in,
                                           bool align_corners) {
  check_multiview_sampling_inputs(features_in, points_in, view_index_in, level_weights_in);
  const c10::cuda::CUDAGuard guard(points_in.device());
  std::vector<at::Tensor> features;
  for (const auto& level : features_in) features.push_back(level.contiguous());
  const auto points = points_in.contiguous();
  const auto view_index = view_index_in.contiguous();
  const auto level_weights = level_weights_in.contiguous();
  const int64_t num_views = features[0].size(1), channels = features[0].size(4);
  const int64_t per_batch = points.size(1), num_samples = points.size(0) * per_batch;
  auto out = at::empty({points.size(0), per_batch, channels}, features[0].options());
  const int64_t work = num_samples * channels;
  if (work == 0) return out;

  AT_DISPATCH_FLOATING_TYPES(features[0].scalar_type(), "multiview_sampling_forward_cuda", [&] {
    multiview_sampling_forward_kernel<scalar_t>
        <<<(work + kThreads - 1) / kThreads, kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
            make_level_table<const scalar_t*>(features, align_corners),
            static_cast<int>(features.size()),
            points.data_ptr<scalar_t>(), view_index.data_ptr<int64_t>(),
            level_weights.data_ptr<scalar_t>(), num_samples, per_batch, num_views, channels,
            out.data_ptr<scalar_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return out;
}

std::tuple<std::vector<at::Tensor>, at::Tensor, at::Tensor> multiview_sampling_backward_cuda(
    const at::Tensor& grad_out_in, at::TensorList features_in, const at::Tensor& points_in,
    const at::Tensor& view_index_in, const at::Tensor& level_weights_in, bool align_corners,
    bool need_features, bool need_points, bool need_weights) {
  check_multiview_sampling_inputs(features_in, points_in, view_index_in, level_weights_in);
  check_multiview_sampling_grad_out(grad_out_in, features_in, points_in);
  const c10::cuda::CUDAGuard guard(points_in.device());
  std::vector<at::Tensor> features;
  for (const auto& level : features_in) features.push_back(level.contiguous());
  const auto grad_out = grad_out_in.contiguous();
  const auto points = points_in.contiguous();
  const auto view_index = view_index_in.contiguous();
  const auto level_weights = level_weights_in.contiguous();
  const int64_t num_views = features[0].size(1), channels = features[0].size(4);
  const int64_t per_batch = points.size(1), num_samples = points.size(0) * per_batch;

  std::vector<at::Tensor> grad_features;
  for (const auto& level : features) {
    grad_features.push_back(need_features ? at::zeros_like(level)
                                          : at::empty({0}, level.options()));
  }
  auto grad_points = need_points ? at::zeros_like(points) : at::empty({0}, points.options());
  auto grad_weights = need_weights ? at::zeros_like(level_weights)
                                   : at::empty({0}, level_weights.options());
  if (num_samples == 0 || (!need_features && !need_points && !need_weights)) {
    return {grad_features, grad_points, grad_weights};
  }

  constexpr int64_t samples_per_block = kThreads / kWarp;
  const int64_t blocks = (num_samples + samples_per_block - 1) / samples_per_block;
  AT_DISPATCH_FLOATING_TYPES(features[0].scalar_type(), "multiview_sampling_backward_cuda", [&] {
    LevelTable<scalar_t*> grad_table{};
    if (need_features) grad_table = make_level_table<scalar_t*>(grad_features);
    multiview_sampling_backward_kernel<scalar_t>
        <<<blocks, kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
            make_level_table<const scalar_t*>(features, align_corners), grad_table,
            static_cast<int>(features.size()), grad_out.data_ptr<scalar_t>(),
            points.data_ptr<scalar_t>(), view_index.data_ptr<int64_t>(),
            level_weights.data_ptr<scalar_t>(), num_samples, per_batch, num_views, channels,
            need_features, need_points ? grad_points.data_ptr<scalar_t>() : nullptr,
            need_weights ? grad_weights.data_ptr<scalar_t>() : nullptr);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {grad_features, grad_points, grad_weights};
}

}  // namespace gdocc

TORCH_LIBRARY_IMPL(gdocc, CUDA, m) {
  m.impl("multiview_sampling_forward", &gdocc::multiview_sampling_forward_cuda);
  m.impl("multiview_sampling_backward", &gdocc::multiview_sampling_backward_cuda);
}
