// Voxel traversal (Amanatides & Woo) shared by the CPU and CUDA kernels, so both take the
// same sequence of floating-point decisions.
#pragma once
#include <cmath>
#include <cstdint>

#include "host_device.h"

namespace gdocc {

// Walks one ray through a [X, Y, Z] occupancy grid in voxel units (voxel (i, j, k) spans
// [i, i+1) x [j, j+1) x [k, k+1)). Stops at the first occupied voxel, or at the last voxel
// inside the grid when nothing is hit. Writes the ray parameter t at which the ray leaves
// that voxel (point = origin + t * direction) and the voxel's index.
// The origin must lie inside the grid and the direction must be non-zero.
GDOCC_HOST_DEVICE void traverse_ray(const bool* occupied, const int64_t size[3],
                                    const double origin[3], const double direction[3],
                                    double* exit_t, int64_t voxel[3]) {
  int64_t step[3], last[3];
  double t_max[3], t_delta[3];
  const int64_t stride[3] = {size[1] * size[2], size[2], 1};
  int64_t linear = 0;
  for (int a = 0; a < 3; ++a) {
    int64_t v = static_cast<int64_t>(floor(origin[a]));
    v = v < 0 ? 0 : (v >= size[a] ? size[a] - 1 : v);
    voxel[a] = v;
    linear += v * stride[a];
    if (direction[a] > 0) {
      step[a] = 1;
      t_max[a] = (static_cast<double>(v + 1) - origin[a]) / direction[a];
      t_delta[a] = 1.0 / direction[a];
    } else if (direction[a] < 0) {
      step[a] = -1;
      t_max[a] = (static_cast<double>(v) - origin[a]) / direction[a];
      t_delta[a] = -1.0 / direction[a];
    } else {
      step[a] = 0;
      t_max[a] = INFINITY;
      t_delta[a] = INFINITY;
    }
    // The index at which a step along this axis would leave the grid.
    last[a] = step[a] > 0 ? size[a] - 1 : 0;
  }
  while (true) {
    // Ties go to the lowest axis; the reference implementation breaks them the same way.
    const int axis = t_max[0] <= t_max[1] ? (t_max[0] <= t_max[2] ? 0 : 2)
                                          : (t_max[1] <= t_max[2] ? 1 : 2);
    if (occupied[linear] || voxel[axis] == last[axis]) {
      *exit_t = t_max[axis];
      return;
    }
    voxel[axis] += step[axis];
    linear += step[axis] * stride[axis];
    t_max[axis] += t_delta[axis];
  }
}

}  // namespace gdocc
