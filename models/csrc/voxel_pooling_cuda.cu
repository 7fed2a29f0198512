// Voxel pooling (LSS splatting into a voxel volume): CUDA kernels.
//
// Same contract as the CPU kernels (voxel_pooling.cpp): sorted voxel ranks, intervals that are
// exactly their runs, in-bounds ranks. One thread per (interval, channel) in the forward and
// per (context row, channel) for the context gradient, so neighbouring threads touch
// neighbouring channels of one row (coalesced) and own what they write: no atomics there.
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>
#include <torch/types.h>

#include "host_device.h"
#include "input_checks.h"

namespace gdocc {

namespace {

constexpr int kThreads = 256;

int64_t num_blocks(int64_t work) { return (work + kThreads - 1) / kThreads; }

template <typename scalar_t>
__global__ void voxel_pooling_forward_kernel(
    const scalar_t* __restrict__ depth, const scalar_t* __restrict__ context,
    const int64_t* __restrict__ ranks_depth, const int64_t* __restrict__ ranks_feat,
    const int64_t* __restrict__ ranks_voxel, const int64_t* __restrict__ interval_starts,
    const int64_t* __restrict__ interval_lengths, int64_t num_intervals, int64_t channels,
    scalar_t* __restrict__ out) {
  const int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (idx >= num_intervals * channels) return;
  const int64_t k = idx / channels, c = idx % channels;
  const int64_t begin = interval_starts[k], end = begin + interval_lengths[k];
  scalar_t acc = 0;
  for (int64_t p = begin; p < end; ++p) {
    acc += depth[ranks_depth[p]] * context[ranks_feat[p] * channels + c];
  }
  out[ranks_voxel[begin] * channels + c] = acc;
}

// row_ptr/order group the points by context row (a stable sort), as on the CPU.
template <typename scalar_t>
__global__ void voxel_pooling_grad_context_kernel(
    const scalar_t* __restrict__ grad_out, const scalar_t* __restrict__ depth,
    const int64_t* __restrict__ ranks_depth, const int64_t* __restrict__ ranks_voxel,
    const int64_t* __restrict__ row_ptr, const int64_t* __restrict__ order, int64_t num_rows,
    int64_t channels, scalar_t* __restrict__ grad_context) {
  const int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (idx >= num_rows * channels) return;
  const int64_t r = idx / channels, c = idx % channels;
  scalar_t acc = 0;
  for (int64_t i = row_ptr[r]; i < row_ptr[r + 1]; ++i) {
    const int64_t p = order[i];
    acc += depth[ranks_depth[p]] * grad_out[ranks_voxel[p] * channels + c];
  }
  grad_context[idx] = acc;
}

template <typename scalar_t>
__global__ void voxel_pooling_point_grad_kernel(
    const scalar_t* __restrict__ grad_out, const scalar_t* __restrict__ context,
    const int64_t* __restrict__ ranks_feat, const int64_t* __restrict__ ranks_voxel,
    int64_t num_points, int64_t channels, scalar_t* __restrict__ point_grad) {
  const int64_t p = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (p >= num_points) return;
  point_grad[p] = row_dot(context + ranks_feat[p] * channels,
                          grad_out + ranks_voxel[p] * channels, channels);
}

}  // namespace

at::Tensor voxel_pooling_forward_cuda(const at::Tensor& depth_in, const at::Tensor& context_in,
                                      const at::Tensor& ranks_depth_in,
                                      const at::Tensor& ranks_feat_in,
                                      const at::Tensor& ranks_voxel_in,
                                      const at::Tensor& interval_starts_in,
                                      const at::Tensor& interval_lengths_in,
                                      int64_t num_voxels) {
  check_voxel_pooling_points(depth_in, context_in, ranks_depth_in, ranks_feat_in,
                             ranks_voxel_in);
  check_voxel_pooling_intervals(ranks_voxel_in, interval_starts_in, interval_lengths_in,
                                num_voxels);
  const c10::cuda::CUDAGuard guard(depth_in.device());
  const auto depth = depth_in.contiguous();
  const auto context = context_in.contiguous();
  const auto ranks_depth = ranks_depth_in.contiguous();
  const auto ranks_feat = ranks_feat_in.contiguous();
  const auto ranks_voxel = ranks_voxel_in.contiguous();
  const auto interval_starts = interval_starts_in.contiguous();
  const auto interval_lengths = interval_lengths_in.contiguous();
  const int64_t channels = context.size(1);
  const int64_t num_intervals = interval_starts.size(0);
  auto out = at::zeros({num_voxels, channels}, context.options());
  const int64_t work = num_intervals * channels;
  if (work == 0) return out;

  AT_DISPATCH_FLOATING_TYPES(depth.scalar_type(), "voxel_pooling_forward_cuda", [&] {
    voxel_pooling_forward_kernel<scalar_t>
        <<<num_blocks(work), kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
            depth.data_ptr<scalar_t>(), context.data_ptr<scalar_t>(),
            ranks_depth.data_ptr<int64_t>(), ranks_feat.data_ptr<int64_t>(),
            ranks_voxel.data_ptr<int64_t>(), interval_starts.data_ptr<int64_t>(),
            interval_lengths.data_ptr<int64_t>(), num_intervals, channels,
            out.data_ptr<scalar_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor> voxel_pooling_backward_cuda(
    const at::Tensor& grad_out_in, const at::Tensor& depth_in, const at::Tensor& context_in,
    const at::Tensor& ranks_depth_in, const at::Tensor& ranks_feat_in,
    const at::Tensor& ranks_voxel_in, bool need_depth, bool need_context) {
  check_voxel_pooling_points(depth_in, context_in, ranks_depth_in, ranks_feat_in,
                             ranks_voxel_in);
  check_voxel_pooling_grad_out(grad_out_in, depth_in, context_in);
  const c10::cuda::CUDAGuard guard(depth_in.device());
  const auto grad_out = grad_out_in.contiguous();
  const auto depth = depth_in.contiguous();
  const auto context = context_in.contiguous();
  const auto ranks_depth = ranks_depth_in.contiguous();
  const auto ranks_feat = ranks_feat_in.contiguous();
  const auto ranks_voxel = ranks_voxel_in.contiguous();
  const int64_t channels = context.size(1);
  const int64_t num_rows = context.size(0);
  const int64_t num_points = ranks_depth.size(0);
  const auto stream = at::cuda::getCurrentCUDAStream();

  auto grad_depth = need_depth ? at::zeros_like(depth) : at::empty({0}, depth.options());
  auto grad_context = need_context ? at::empty_like(context) : at::empty({0}, context.options());
  AT_DISPATCH_FLOATING_TYPES(depth.scalar_type(), "voxel_pooling_backward_cuda", [&] {
    if (need_context && num_rows * channels > 0) {
      // Stable sort by row plus a binary search for where each row starts: the CPU
      // kernel's counting sort, built from device primitives.
      const auto sorted = at::sort(ranks_feat, /*stable=*/true, /*dim=*/0,
                                   /*descending=*/false);
      const auto& sorted_rows = std::get<0>(sorted);
      const auto order = std::get<1>(sorted).contiguous();
      const auto row_ptr =
          at::searchsorted(sorted_rows, at::arange(num_rows + 1, ranks_feat.options()))
              .contiguous();
      voxel_pooling_grad_context_kernel<scalar_t>
          <<<num_blocks(num_rows * channels), kThreads, 0, stream>>>(
              grad_out.data_ptr<scalar_t>(), depth.data_ptr<scalar_t>(),
              ranks_depth.data_ptr<int64_t>(), ranks_voxel.data_ptr<int64_t>(),
              row_ptr.data_ptr<int64_t>(), order.data_ptr<int64_t>(), num_rows, channels,
              grad_context.data_ptr<scalar_t>());
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    } else if (need_context) {
      grad_context.zero_();
    }
    if (need_depth && num_points > 0) {
      auto point_grad = at::empty({num_points}, depth.options());
      voxel_pooling_point_grad_kernel<scalar_t>
          <<<num_blocks(num_points), kThreads, 0, stream>>>(
              grad_out.data_ptr<scalar_t>(), context.data_ptr<scalar_t>(),
              ranks_feat.data_ptr<int64_t>(), ranks_voxel.data_ptr<int64_t>(), num_points,
              channels, point_grad.data_ptr<scalar_t>());
      C10_CUDA_KERNEL_LAUNCH_CHECK();
      // index_add_ also sums points that share a depth entry (atomically, so in any order);
      // voxel_pooling_prepare never makes such points, so the result is deterministic.
      grad_depth.view({-1}).index_add_(0, ranks_depth, point_grad);
    }
  });
  return {grad_depth, grad_context};
}

}  // namespace gdocc

TORCH_LIBRARY_IMPL(gdocc, CUDA, m) {
  m.impl("voxel_pooling_forward", &gdocc::voxel_pooling_forward_cuda);
  m.impl("voxel_pooling_backward", &gdocc::voxel_pooling_backward_cuda);
}
