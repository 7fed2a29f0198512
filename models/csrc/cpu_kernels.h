// Helpers for the CPU kernels only.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>

#ifdef __linux__
#include <sys/mman.h>
#endif

namespace gdocc {

// An uninitialised CPU tensor for a kernel to fill, backed by transparent huge pages where
// Linux offers them. Fresh memory faults in page by page on first touch; for outputs of tens
// to hundreds of MB (a 200 x 200 x 16 x 64 volume is 164 MB) 4 KiB faults cost more than
// the kernels' own work, 2 MiB ones do not (PyTorch's THP_MEM_ALLOC_ENABLE=1 does the same
// for every allocation). The advice is a hint: memory that is already mapped is unaffected.
inline at::Tensor empty_for_output(at::IntArrayRef sizes, const at::TensorOptions& options) {
  auto out = at::empty(sizes, options);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr uintptr_t kHugePage = uintptr_t(1) << 21;
  const auto begin = reinterpret_cast<uintptr_t>(out.data_ptr());
  const uintptr_t first = (begin + kHugePage - 1) & ~(kHugePage - 1);
  const uintptr_t last = (begin + out.nbytes()) & ~(kHugePage - 1);
  if (last > first) madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
#endif
  return out;
}

// dst[c] = sum_i w_i * row_i[c] for c < channels, where `const scalar_t* row_i =
// source(i, w_i)` for i < count. Each channel sums its terms in order i = 0, 1, ... from zero,
// like a CUDA thread that owns the channel, but blocks of channels stay in registers across
// the terms instead of going through memory once per term.
template <typename scalar_t, typename Source>
inline void weighted_row_sum(int64_t count, const Source& source, int64_t channels,
                             scalar_t* dst) {
  constexpr int64_t kBlock = 16;
  for (int64_t c = 0; c < channels; c += kBlock) {
    scalar_t acc[kBlock] = {};
    if (c + kBlock <= channels) {  // a compile-time trip count: acc lives in registers
      for (int64_t i = 0; i < count; ++i) {
        scalar_t w;
        const scalar_t* row = source(i, w) + c;
        for (int64_t j = 0; j < kBlock; ++j) acc[j] += w * row[j];
      }
      for (int64_t j = 0; j < kBlock; ++j) dst[c + j] = acc[j];
    } else {
      const int64_t rest = channels - c;
      for (int64_t i = 0; i < count; ++i) {
        scalar_t w;
        const scalar_t* row = source(i, w) + c;
        for (int64_t j = 0; j < rest; ++j) acc[j] += w * row[j];
      }
      for (int64_t j = 0; j < rest; ++j) dst[c + j] = acc[j];
    }
  }
}

// With kAdd: dst[c] += alpha * g[c] for c < channels. With kDot: returns sum_c g[c] * f[c],
// summed exactly like row_dot (host_device.h). One pass over the channels for both.
template <bool kAdd, bool kDot, typename scalar_t>
inline scalar_t add_scaled_and_dot(scalar_t alpha, const scalar_t* __restrict__ g,
                                   const scalar_t* __restrict__ f, scalar_t* __restrict__ dst,
                                   int64_t channels) {
  scalar_t part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t c = 0;
  for (; c + 8 <= channels; c += 8) {
    for (int j = 0; j < 8; ++j) {
      if (kAdd) dst[c + j] += alpha * g[c + j];
      if (kDot) part[j] += g[c + j] * f[c + j];
    }
  }
  for (int j = 0; j < 8; ++j) {
    if (c + j >= channels) break;
    if (kAdd) dst[c + j] += alpha * g[c + j];
    if (kDot) part[j] += g[c + j] * f[c + j];
  }
  return ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
}

// Asks the cache for the `bytes` bytes at `data` (a hint; no effect where unsupported).
inline void prefetch(const void* data, int64_t bytes) {
#if defined(__GNUC__)
  const char* p = static_cast<const char*>(data);
  for (int64_t offset = 0; offset < bytes; offset += 64) __builtin_prefetch(p + offset);
#endif
}

}  // namespace gdocc
