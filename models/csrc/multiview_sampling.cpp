// Multi-scale multi-view bilinear sampling: schema and CPU kernels.
//
// Shapes as the kernels see them (models/ops/multiview_sampling.py flattens the query and
// point axes into one sample axis N and checks value ranges):
//   features[l]    [BG, V, H_l, W_l, C]  channels last
//   points         [BG, N, 2]            normalised (x, y) in image, see multiview_sampling.h
//   view_index     [BG, N]   int64       view each sample reads; negative: none (reads zero)
//   level_weights  [BG, N, L]
//   out            [BG, N, C]            sum_l level_weights[l] * bilinear(features[l][view])
#include <ATen/Parallel.h>
#include <torch/library.h>
#include <torch/types.h>

#include <algorithm>
#include <vector>

#include "cpu_kernels.h"
#include "host_device.h"
#include "input_checks.h"
#include "multiview_sampling.h"

namespace gdocc {

namespace {

constexpr int64_t kPrefetchAhead = 4;

std::vector<at::Tensor> contiguous_levels(at::TensorList features) {
  std::vector<at::Tensor> levels;
  for (const auto& level : features) levels.push_back(level.contiguous());
  return levels;
}

// How many samples ahead the forward finds its taps and asks the cache for their rows.
constexpr int kTapsAhead = 8;

// x86-64 CPUs from 2013 on have AVX2, twice the SSE2 vector width that the compiler may
// assume by default: GCC and Clang compile the function marked with this twice and pick the
// copy for the CPU at load time. Without FMA the two copies round identically.
#if defined(__x86_64__) && defined(__GNUC__)
#define GDOCC_AVX2_CLONE __attribute__((target_clones("avx2", "default")))
#else
#define GDOCC_AVX2_CLONE
#endif

// The forward's inputs, flattened (see the layouts at the top of the file).
template <typename scalar_t>
struct ForwardArgs {
  LevelTable<const scalar_t*> table;
  int num_levels;
  const scalar_t* points;
  const int64_t* view_index;
  const scalar_t* level_weights;
  int64_t per_batch, num_views, channels;
  const scalar_t* zero_row;  // `channels` zeros
  scalar_t* out;
};

// One sample's taps over all levels, in (level, corner) order: the feature rows they read and
// their weights (level weight x bilinear weight). A corner outside the image reads a row of
// zeros: every level has four taps, so the summing loop has no data-dependent branches.
template <typename scalar_t>
struct SampleTaps {
  int count;
  const scalar_t* rows[4 * kMaxSamplingLevels];
  scalar_t weights[4 * kMaxSamplingLevels];
};

template <typename scalar_t>
inline void find_taps(const ForwardArgs<scalar_t>& args, int64_t s,
                      SampleTaps<scalar_t>* found) {
  const int64_t view = args.view_index[s];
  if (view < 0) {
    found->count = 0;
    return;
  }
  const int64_t image = (s / args.per_batch) * args.num_views + view;
  const scalar_t* point = args.points + 2 * s;
  const scalar_t* level_weights = args.level_weights + s * args.num_levels;
  found->count = 4 * args.num_levels;
  BilinearTaps<scalar_t> taps;
  for (int l = 0; l < args.num_levels; ++l) {
    const int64_t h = args.table.height[l], w = args.table.width[l];
    bilinear_taps(point[0], point[1], h, w, args.table.align_corners, &taps);
    const scalar_t* base = args.table.data[l] + image * h * w * args.channels;
    for (int k = 0; k < 4; ++k) {
      found->weights[4 * l + k] = level_weights[l] * taps.weight[k];
      found->rows[4 * l + k] =
          taps.pixel[k] < 0 ? args.zero_row : base + taps.pixel[k] * args.channels;
    }
  }
}

// find_taps, then asks the cache for the rows. A function, not a lambda in sample_rows: GCC
// did not inline the lambda into sample_rows' AVX2 copy, and the call made that copy slower
// than the plain SSE2 loop.
template <typename scalar_t>
inline void find_and_fetch_taps(const ForwardArgs<scalar_t>& args, int64_t s,
                                SampleTaps<scalar_t>* found) {
  find_taps(args, s, found);
  for (int t = 0; t < found->count; ++t) {
    prefetch(found->rows[t], args.channels * sizeof(scalar_t));
  }
}

// Output rows s_begin to s_end - 1. The samples read rows scattered over all the images' maps,
// more than the caches hold: each sample's taps are found kTapsAhead samples early and their
// rows fetched while the samples in between compute.
template <typename scalar_t>
GDOCC_AVX2_CLONE void sample_rows(const ForwardArgs<scalar_t>& args, int64_t s_begin,
                                  int64_t s_end) {
  const int64_t channels = args.channels;
  SampleTaps<scalar_t> ahead[kTapsAhead];
  for (int64_t s = s_begin; s < std::min(s_begin + kTapsAhead, s_end); ++s) {
    find_and_fetch_taps(args, s, &ahead[s % kTapsAhead]);
  }
  for (int64_t s = s_begin; s < s_end; ++s) {
    const auto& taps = ahead[s % kTapsAhead];
    weighted_row_sum(
        taps.count,
        [&](int64_t t, scalar_t& w) {
          w = taps.weights[t];
          return taps.rows[t];
        },
        channels, args.out + s * channels);
    if (s + kTapsAhead < s_end) {
      find_and_fetch_taps(args, s + kTapsAhead, &ahead[(s + kTapsAhead) % kTapsAhead]);
    }
  }
}

}  // namespace

at::Tensor multiview_sampling_forward_cpu(at::TensorList features_in,
                                          const at::Tensor& points_in,
                                          const at::Tensor& view_index_in,
                                          const at::Tensor& level_weights_in,
                                          bool align_corners) {
  check_multiview_sampling_inputs(features_in, points_in, view_index_in, level_weights_in);
  const auto features = contiguous_levels(features_in);
  const auto points = points_in.contiguous();
  const auto view_index = view_index_in.contiguous();
  const auto level_weights = level_weights_in.contiguous();
  const int64_t num_views = features[0].size(1), channels = features[0].size(4);
  const int64_t per_batch = points.size(1), num_samples = points.size(0) * per_batch;
  const int num_levels = static_cast<int>(features.size());
  auto out = empty_for_output({points.size(0), per_batch, channels}, features[0].options());

  AT_DISPATCH_FLOATING_TYPES(features[0].scalar_type(), "multiview_sampling_forward_cpu", [&] {
    const std::vector<scalar_t> zero_row(channels, 0);
    const ForwardArgs<scalar_t> args{make_level_table<const scalar_t*>(features, align_corners),
                                     num_levels,
                                     points.data_ptr<scalar_t>(),
                                     view_index.data_ptr<int64_t>(),
                                     level_weights.data_ptr<scalar_t>(),
                                     per_batch,
                                     num_views,
                                     channels,
                                     zero_row.data(),
                                     out.data_ptr<scalar_t>()};
    at::parallel_for(0, num_samples, 256, [&](int64_t s_begin, int64_t s_end) {
      sample_rows(args, s_begin, s_end);
    });
  });
  return out;
}

std::tuple<std::vector<at::Tensor>, at::Tensor, at::Tensor> multiview_sampling_backward_cpu(
    const at::Tensor& grad_out_in, at::TensorList features_in, const at::Tensor& points_in,
    const at::Tensor& view_index_in, const at::Tensor& level_weights_in, bool align_corners,
    bool need_features, bool need_points, bool need_weights) {
  check_multiview_sampling_inputs(features_in, points_in, view_index_in, level_weights_in);
  check_multiview_sampling_grad_out(grad_out_in, features_in, points_in);
  const auto features = contiguous_levels(features_in);
  const auto grad_out = grad_out_in.contiguous();
  const auto points = points_in.contiguous();
  const auto view_index = view_index_in.contiguous();
  const auto level_weights = level_weights_in.contiguous();
  const int64_t num_views = features[0].size(1), channels = features[0].size(4);
  const int64_t per_batch = points.size(1), num_samples = points.size(0) * per_batch;
  const int num_levels = static_cast<int>(features.size());
  const int64_t num_images = points.size(0) * num_views;

  std::vector<at::Tensor> grad_features;
  for (const auto& level : features) {
    grad_features.push_back(need_features
                                ? empty_for_output(level.sizes(), level.options()).zero_()
                                : at::empty({0}, level.options()));
  }
  auto grad_points = need_points ? at::zeros_like(points) : at::empty({0}, points.options());
  auto grad_weights = need_weights ? at::zeros_like(level_weights)
                                   : at::empty({0}, level_weights.options());
  const bool need_dots = need_points || need_weights;
  if (!need_features && !need_dots) return {grad_features, grad_points, grad_weights};

  // Samples grouped by the image (batch-group, view) they read, by a stable counting sort:
  // one thread owns one image's feature gradients, so there are no races, and every pixel
  // gradient sums its samples in sample order (deterministic).
  const int64_t* views = view_index.data_ptr<int64_t>();
  std::vector<int64_t> image_ptr(num_images + 1, 0), order;
  for (int64_t s = 0; s < num_samples; ++s) {
    if (views[s] >= 0) ++image_ptr[(s / per_batch) * num_views + views[s] + 1];
  }
  for (int64_t i = 0; i < num_images; ++i) image_ptr[i + 1] += image_ptr[i];
  order.resize(image_ptr[num_images]);
  std::vector<int64_t> cursor(image_ptr.begin(), image_ptr.end() - 1);
  for (int64_t s = 0; s < num_samples; ++s) {
    if (views[s] >= 0) order[cursor[(s / per_batch) * num_views + views[s]]++] = s;
  }

  AT_DISPATCH_FLOATING_TYPES(features[0].scalar_type(), "multiview_sampling_backward_cpu", [&] {
    const auto table = make_level_table<const scalar_t*>(features, align_corners);
    LevelTable<scalar_t*> grad_table{};
    if (need_features) grad_table = make_level_table<scalar_t*>(grad_features);
    const scalar_t* g = grad_out.data_ptr<scalar_t>();
    const scalar_t* pts = points.data_ptr<scalar_t>();
    const scalar_t* lw = level_weights.data_ptr<scalar_t>();
    scalar_t* gp = need_points ? grad_points.data_ptr<scalar_t>() : nullptr;
    scalar_t* gw = need_weights ? grad_weights.data_ptr<scalar_t>() : nullptr;
    at::parallel_for(0, num_images, 1, [&](int64_t i_begin, int64_t i_end) {
      BilinearTaps<scalar_t> taps;
      for (int64_t image = i_begin; image < i_end; ++image) {
        const int64_t i_last = image_ptr[image + 1];
        for (int64_t i = image_ptr[image]; i < i_last; ++i) {
          // An image's samples are scattered over the sample axis: fetch a later one's
          // per-sample data while this one computes.
          if (i + kPrefetchAhead < i_last) {
            const int64_t ahead = order[i + kPrefetchAhead];
            prefetch(g + ahead * channels, channels * sizeof(scalar_t));
            prefetch(pts + 2 * ahead, 2 * sizeof(scalar_t));
            prefetch(lw + ahead * num_levels, num_levels * sizeof(scalar_t));
          }
          const int64_t s = order[i];
          const scalar_t* gs = g + s * channels;
          scalar_t grad_x = 0, grad_y = 0;
          for (int l = 0; l < num_levels; ++l) {
            const int64_t h = table.height[l], w = table.width[l];
            bilinear_taps(pts[2 * s], pts[2 * s + 1], h, w, table.align_corners, &taps);
            const int64_t offset = image * h * w * channels;
            const scalar_t level_weight = lw[s * num_levels + l];
            // d out / d level_weight is the plain bilinear sample; d out / d (u, v) follows
            // from the weights' derivatives; both dotted with the output gradient.
            scalar_t sampled = 0, d_u = 0, d_v = 0;
            for (int k = 0; k < 4; ++k) {
              if (taps.pixel[k] < 0) continue;
              const int64_t row = offset + taps.pixel[k] * channels;
              const scalar_t tap_weight = level_weight * taps.weight[k];
              const scalar_t* src = table.data[l] + row;
              scalar_t* dst = need_features ? grad_table.data[l] + row : nullptr;
              scalar_t dot;
              if (need_features && need_dots) {
                dot = add_scaled_and_dot<true, true>(tap_weight, gs, src, dst, channels);
              } else if (need_features) {
                dot = add_scaled_and_dot<true, false>(tap_weight, gs, src, dst, channels);
              } else {
                dot = add_scaled_and_dot<false, true>(tap_weight, gs, src, dst, channels);
              }
              sampled += taps.weight[k] * dot;
              d_u += taps.d_du[k] * dot;
              d_v += taps.d_dv[k] * dot;
            }
            if (need_weights) gw[s * num_levels + l] = sampled;
            grad_x += level_weight * d_u *
                      static_cast<scalar_t>(pixel_span(w, table.align_corners));
            grad_y += level_weight * d_v *
                      static_cast<scalar_t>(pixel_span(h, table.align_corners));
          }
          if (need_points) {
            gp[2 * s] = grad_x;
            gp[2 * s + 1] = grad_y;
          }
        }
      }
    });
  });
  return {grad_features, grad_points, grad_weights};
}

}  // namespace gdocc

TORCH_LIBRARY_FRAGMENT(gdocc, m) {
  m.def(
      "multiview_sampling_forward(Tensor[] features, Tensor points, Tensor view_index, "
      "Tensor level_weights, bool align_corners) -> Tensor");
  m.def(
      "multiview_sampling_backward(Tensor grad_out, Tensor[] features, Tensor points, "
      "Tensor view_index, Tensor level_weights, bool align_corners, bool need_features, "
      "bool need_points, "
      "bool need_weights) -> (Tensor[], Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(gdocc, CPU, m) {
  m.impl("multiview_sampling_forward", &gdocc::multiview_sampling_forward_cpu);
  m.impl("multiview_sampling_backward", &gdocc::multiview_sampling_backward_cpu);
}
