// Multi-scale multi-view bilinear sampling: the geometry shared by the CPU and CUDA kernels,
// so both pick the same pixels with the same weights.
//
// Conventions (those of grid_sample with padding_mode='zeros'): a normalised coordinate x in
// [0, 1] spans the image's width. With align_corners false, pixel i's centre lies at
// x = (i + 0.5) / W, so the pixel-unit column is u = x * W - 0.5; with align_corners true
// (SparseOcc's), at x = i / (W - 1), so u = x * (W - 1). Rows likewise with H; corners
// outside the image read zero.
#pragma once
#include <ATen/core/Tensor.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "host_device.h"

namespace gdocc {

// Upper bound on feature levels; the table of level pointers travels to the GPU by value.
constexpr int kMaxSamplingLevels = 8;

// A feature pyramid as the kernels see it: level l is a [BG, V, height[l], width[l], C]
// channels-last tensor at data[l] (features, or their gradients); align_corners is the
// pixel convention of the points that sample it.
template <typename pointer_t>
struct LevelTable {
  pointer_t data[kMaxSamplingLevels];
  int64_t height[kMaxSamplingLevels];
  int64_t width[kMaxSamplingLevels];
  bool align_corners;
};

// Host side: the table of contiguous levels (features or their gradients).
template <typename pointer_t>
LevelTable<pointer_t> make_level_table(const std::vector<at::Tensor>& levels,
                                       bool align_corners = false) {
  LevelTable<pointer_t> table{};
  table.align_corners = align_corners;
  for (size_t l = 0; l < levels.size(); ++l) {
    table.data[l] = static_cast<pointer_t>(levels[l].data_ptr());
    table.height[l] = levels[l].size(2);
    table.width[l] = levels[l].size(3);
  }
  return table;
}

// The four taps of one bilinear sample, corners in the order (u0, v0), (u0 + 1, v0),
// (u0, v0 + 1), (u0 + 1, v0 + 1) with u0 = floor(u), v0 = floor(v).
template <typename scalar_t>
struct BilinearTaps {
  int64_t pixel[4];     // row * width + column, or -1 for a corner outside the image
  scalar_t weight[4];   // bilinear weight
  scalar_t d_du[4];     // d weight / d u (pixel units)
  scalar_t d_dv[4];     // d weight / d v (pixel units)
};

// Pixels per unit of normalised coordinate along an axis of `size` pixels: d u / d x.
GDOCC_HOST_DEVICE int64_t pixel_span(int64_t size, bool align_corners) {
  return align_corners ? size - 1 : size;
}

template <typename scalar_t>
GDOCC_HOST_DEVICE void bilinear_taps(scalar_t x, scalar_t y, int64_t height, int64_t width,
                                     bool align_corners, BilinearTaps<scalar_t>* taps) {
  const scalar_t shift = align_corners ? static_cast<scalar_t>(0) : static_cast<scalar_t>(0.5);
  const scalar_t u = x * static_cast<scalar_t>(pixel_span(width, align_corners)) - shift;
  const scalar_t v = y * static_cast<scalar_t>(pixel_span(height, align_corners)) - shift;
  // Samples with no corner inside read zero and have zero gradient. Testing this first also
  // sends NaN there and keeps floor() away from values that overflow an int64.
  if (!(u > static_cast<scalar_t>(-1) && u < static_cast<scalar_t>(width) &&
        v > static_cast<scalar_t>(-1) && v < static_cast<scalar_t>(height))) {
    for (int k = 0; k < 4; ++k) {
      taps->pixel[k] = -1;
      taps->weight[k] = taps->d_du[k] = taps->d_dv[k] = 0;
    }
    return;
  }
  const scalar_t u0 = floor(u), v0 = floor(v);
  const scalar_t fu = u - u0, fv = v - v0;
  const int64_t col0 = static_cast<int64_t>(u0), row0 = static_cast<int64_t>(v0);
  for (int k = 0; k < 4; ++k) {
    const int right = k & 1, down = k >> 1;
    const int64_t col = col0 + right, row = row0 + down;
    const bool inside = col >= 0 && col < width && row >= 0 && row < height;
    taps->pixel[k] = inside ? row * width + col : -1;
    const scalar_t wu = right ? fu : 1 - fu;
    const scalar_t wv = down ? fv : 1 - fv;
    taps->weight[k] = wu * wv;
    taps->d_du[k] = right ? wv : -wv;
    taps->d_dv[k] = down ? wu : -wu;
  }
}

}  // namespace gdocc
