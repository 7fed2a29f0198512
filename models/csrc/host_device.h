// Helpers that both the CPU kernels (plain C++) and the CUDA kernels (nvcc) call, so the two
// backends run the very same arithmetic.
#pragma once
#include <cstdint>

#ifdef __CUDACC__
#define GDOCC_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define GDOCC_HOST_DEVICE inline
#endif

namespace gdocc {

// sum_c a[c] * b[c]. Channel c goes to partial sum c % 8 and the partials are added
// pairwise at the end: eight independent chains let the CPU compiler vectorise the loop
// (it may not reorder one chain's float additions), and the order is the same everywhere.
template <typename scalar_t>
GDOCC_HOST_DEVICE scalar_t row_dot(const scalar_t* a, const scalar_t* b, int64_t channels) {
  scalar_t part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t c = 0;
  for (; c + 8 <= channels; c += 8) {
    for (int j = 0; j < 8; ++j) part[j] += a[c + j] * b[c + j];
  }
  for (int j = 0; j < 8; ++j) {
    if (c + j < channels) part[j] += a[c + j] * b[c + j];
  }
  return ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
}

}  // namespace gdocc
