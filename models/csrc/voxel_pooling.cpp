// Voxel pooling (LSS splatting into a voxel volume, BEVPoolv2-style): schema, CPU kernels.
//
// Points are frustum samples p with a depth probability depth[ranks_depth[p]] (depth read
// flat), a context row context[ranks_feat[p], :] (context is [rows, C]) and a voxel
// ranks_voxel[p] (a row of the [num_voxels, C] output); interval k covers the points
// [interval_starts[k], interval_starts[k] + interval_lengths[k]), all of one voxel.
// The kernels trust this geometry: every rank indexes inside its tensor, ranks_voxel is
// sorted and the intervals are exactly its runs of equal voxel, in order
// (models/ops/voxel_pooling.py checks all of it before calling them).
//
// The forward sums every voxel's points in increasing point order, starting from zero, on
// both backends: the CPU kernel works on blocks of channels and the CUDA kernel gives each
// channel a thread, but every channel sees the same additions in the same order. The context
// gradient is summed in a different order on each backend (each picks what suits its memory),
// so the two agree to rounding there.
#include <ATen/Parallel.h>
#include <torch/library.h>
#include <torch/types.h>

#include <algorithm>
#include <vector>

#include "cpu_kernels.h"
#include "host_device.h"
#include "input_checks.h"

namespace gdocc {

at::Tensor voxel_pooling_forward_cpu(const at::Tensor& depth_in, const at::Tensor& context_in,
                                     const at::Tensor& ranks_depth_in,
                                     const at::Tensor& ranks_feat_in,
                                     const at::Tensor& ranks_voxel_in,
                                     const at::Tensor& interval_starts_in,
                                     const at::Tensor& interval_lengths_in, int64_t num_voxels) {
  check_voxel_pooling_points(depth_in, context_in, ranks_depth_in, ranks_feat_in,
                             ranks_voxel_in);
  check_voxel_pooling_intervals(ranks_voxel_in, interval_starts_in, interval_lengths_in,
                                num_voxels);
  const auto depth = depth_in.contiguous();
  const auto context = context_in.contiguous();
  const auto ranks_depth = ranks_depth_in.contiguous();
  const auto ranks_feat = ranks_feat_in.contiguous();
  const auto ranks_voxel = ranks_voxel_in.contiguous();
  const auto interval_starts = interval_starts_in.contiguous();
  const auto interval_lengths = interval_lengths_in.contiguous();
  const int64_t channels = context.size(1);
  const int64_t num_intervals = interval_starts.size(0);
  // Every output element is written exactly once below (pooled or zeroed), so the volume,
  // often far larger than the points, is not cleared beforehand.
  auto out = empty_for_output({num_voxels, channels}, context.options());
  if (num_intervals == 0 || channels == 0) return out.zero_();

  AT_DISPATCH_FLOATING_TYPES(depth.scalar_type(), "voxel_pooling_forward_cpu", [&] {
    const scalar_t* d = depth.data_ptr<scalar_t>();
    const scalar_t* ctx = context.data_ptr<scalar_t>();
    const int64_t* rd = ranks_depth.data_ptr<int64_t>();
    const int64_t* rf = ranks_feat.data_ptr<int64_t>();
    const int64_t* rv = ranks_voxel.data_ptr<int64_t>();
    const int64_t* starts = interval_starts.data_ptr<int64_t>();
    const int64_t* lengths = interval_lengths.data_ptr<int64_t>();
    scalar_t* o = out.data_ptr<scalar_t>();
    at::parallel_for(0, num_intervals, 64, [&](int64_t k_begin, int64_t k_end) {
      for (int64_t k = k_begin; k < k_end; ++k) {
        const int64_t begin = starts[k], end = begin + lengths[k];
        const int64_t voxel = rv[begin];
        // Interval k also clears the empty voxels between the previous interval's voxel and
        // its own (and the last one those after it), which keeps the writes disjoint.
        const int64_t empty_from = k == 0 ? 0 : rv[starts[k - 1]] + 1;
        std::fill(o + empty_from * channels, o + voxel * channels, scalar_t(0));
        if (k == num_intervals - 1) {
          std::fill(o + (voxel + 1) * channels, o + num_voxels * channels, scalar_t(0));
        }
        weighted_row_sum(
            end - begin,
            [&](int64_t i, scalar_t& w) {
              w = d[rd[begin + i]];
              return ctx + rf[begin + i] * channels;
            },
            channels, o + voxel * channels);
      }
    });
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor> voxel_pooling_backward_cpu(
    const at::Tensor& grad_out_in, const at::Tensor& depth_in, const at::Tensor& context_in,
    const at::Tensor& ranks_depth_in, const at::Tensor& ranks_feat_in,
    const at::Tensor& ranks_voxel_in, bool need_depth, bool need_context) {
  check_voxel_pooling_points(depth_in, context_in, ranks_depth_in, ranks_feat_in,
                             ranks_voxel_in);
  check_voxel_pooling_grad_out(grad_out_in, depth_in, context_in);
  const auto grad_out = grad_out_in.contiguous();
  const auto depth = depth_in.contiguous();
  const auto context = context_in.contiguous();
  const auto ranks_depth = ranks_depth_in.contiguous();
  const auto ranks_feat = ranks_feat_in.contiguous();
  const auto ranks_voxel = ranks_voxel_in.contiguous();
  const int64_t channels = context.size(1);
  const int64_t num_rows = context.size(0);
  const int64_t num_points = ranks_depth.size(0);

  // The points are sorted by voxel, so walking them in order reads grad_out, the large
  // tensor, sequentially (grouping them by context row instead would read it at random).
  // The context rows, few and small, are the scattered side: each of `chunks` contiguous
  // point ranges sums into its own copy of the context gradient, and the copies are added in
  // chunk order afterwards. Chunks depend only on the point and thread counts, so the result
  // is deterministic for a given number of threads.
  const int64_t chunks =
      std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), num_points / 4096));
  auto grad_depth = need_depth ? at::zeros_like(depth) : at::empty({0}, depth.options());
  auto partial = need_context ? at::zeros({chunks, num_rows, channels}, context.options())
                              : at::empty({0}, context.options());
  AT_DISPATCH_FLOATING_TYPES(depth.scalar_type(), "voxel_pooling_backward_cpu", [&] {
    const scalar_t* g = grad_out.data_ptr<scalar_t>();
    const scalar_t* d = depth.data_ptr<scalar_t>();
    const scalar_t* ctx = context.data_ptr<scalar_t>();
    const int64_t* rd = ranks_depth.data_ptr<int64_t>();
    const int64_t* rf = ranks_feat.data_ptr<int64_t>();
    const int64_t* rv = ranks_voxel.data_ptr<int64_t>();
    scalar_t* part = partial.data_ptr<scalar_t>();
    // Per-point depth gradients are scattered afterwards, serially in point order: points
    // may share a depth entry, and the sum must not depend on the thread schedule.
    std::vector<scalar_t> point_grad(need_depth ? num_points : 0);
    at::parallel_for(0, chunks, 1, [&](int64_t chunk_begin, int64_t chunk_end) {
      for (int64_t chunk = chunk_begin; chunk < chunk_end; ++chunk) {
        scalar_t* acc = need_context ? part + chunk * num_rows * channels : nullptr;
        const int64_t p_end = (chunk + 1) * num_points / chunks;
        for (int64_t p = chunk * num_points / chunks; p < p_end; ++p) {
          const scalar_t* grow = g + rv[p] * channels;
          if (need_context) {
            const scalar_t w = d[rd[p]];
            scalar_t* dst = acc + rf[p] * channels;
            for (int64_t c = 0; c < channels; ++c) dst[c] += w * grow[c];
          }
          if (need_depth) point_grad[p] = row_dot(ctx + rf[p] * channels, grow, channels);
        }
      }
    });
    if (need_depth) {
      scalar_t* gd = grad_depth.data_ptr<scalar_t>();
      for (int64_t p = 0; p < num_points; ++p) gd[rd[p]] += point_grad[p];
    }
    if (need_context && chunks > 1) {
      const int64_t size = num_rows * channels;
      at::parallel_for(0, size, 4096, [&](int64_t i_begin, int64_t i_end) {
        for (int64_t chunk = 1; chunk < chunks; ++chunk) {
          const scalar_t* src = part + chunk * size;
          for (int64_t i = i_begin; i < i_end; ++i) part[i] += src[i];
        }
      });
    }
  });
  // A copy when there were several chunks, so the gradient does not pin their buffer.
  auto grad_context = !need_context ? partial : chunks > 1 ? partial[0].clone() : partial[0];
  return {grad_depth, grad_context};
}

}  // namespace gdocc

TORCH_LIBRARY_FRAGMENT(gdocc, m) {
  m.def(
      "voxel_pooling_forward(Tensor depth, Tensor context, Tensor ranks_depth, "
      "Tensor ranks_feat, Tensor ranks_voxel, Tensor interval_starts, "
      "Tensor interval_lengths, int num_voxels) -> Tensor");
  m.def(
      "voxel_pooling_backward(Tensor grad_out, Tensor depth, Tensor context, "
      "Tensor ranks_depth, Tensor ranks_feat, Tensor ranks_voxel, bool need_depth, "
      "bool need_context) -> (Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(gdocc, CPU, m) {
  m.impl("voxel_pooling_forward", &gdocc::voxel_pooling_forward_cpu);
  m.impl("voxel_pooling_backward", &gdocc::voxel_pooling_backward_cpu);
}
