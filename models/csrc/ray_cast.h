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
  int64_t v[3], step[3], last[3];
  double t_max[3], t_delta[3];
  for (int a = 0; a < 3; ++a) {
    v[a] = static_cast<int64_t>(floor(origin[a]));
    v[a] = v[a] < 0 ? 0 : (v[a] >= size[a] ? size[a] - 1 : v[a]);
    if (direction[a] > 0) {
      step[a] = 1;
      t_max[a] = (static_cast<double>(v[a] + 1) - origin[a]) / direction[a];
      t_delta[a] = 1.0 / direction[a];
    } else if (direction[a] < 0) {
      step[a] = -1;
      t_max[a] = (static_cast<double>(v[a]) - origin[a]) / direction[a];
      t_delta[a] = -1.0 / direction[a];
    } else {
      step[a] = 0;
      t_max[a] = INFINITY;
      t_delta[a] = INFINITY;
    }
    // The index at which a step along this axis would leave the grid.
    last[a] = step[a] > 0 ? size[a] - 1 : 0;
  }
  // The loop keeps its state in scalars and advances with selects instead of branches or
  // indexed stores: which axis steps next is unpredictable, and branch misses and
  // store-to-load stalls dominated an array-indexed version (3x slower).
  int64_t x = v[0], y = v[1], z = v[2];
  double tx = t_max[0], ty = t_max[1], tz = t_max[2];
  const int64_t stride_x = size[1] * size[2], stride_y = size[2];
  const int64_t lin_x = step[0] * stride_x, lin_y = step[1] * stride_y, lin_z = step[2];
  int64_t linear = x * stride_x + y * stride_y + z;
  while (true) {
    // Ties go to the lowest axis; the reference implementation breaks them the same way.
    const bool x_first = tx <= ty;
    const double t_xy = x_first ? tx : ty;
    const bool along_z = !(t_xy <= tz);
    const bool along_x = !along_z && x_first;
    const bool along_y = !along_z && !x_first;
    const bool leaves = (along_x && x == last[0]) || (along_y && y == last[1]) ||
                        (along_z && z == last[2]);
    if (occupied[linear] || leaves) {
      *exit_t = along_z ? tz : t_xy;
      break;
    }
    x += along_x ? step[0] : 0;
    y += along_y ? step[1] : 0;
    z += along_z ? step[2] : 0;
    linear += along_x ? lin_x : (along_y ? lin_y : lin_z);
    tx = along_x ? tx + t_delta[0] : tx;
    ty = along_y ? ty + t_delta[1] : ty;
    tz = along_z ? tz + t_delta[2] : tz;
  }
  voxel[0] = x;
  voxel[1] = y;
  voxel[2] = z;
}

// Casts one ray given in metres: normalises the direction, moves the origin into voxel
// units, traverses, and reports the exit distance in metres along the unit direction.
GDOCC_HOST_DEVICE void cast_metric_ray(const bool* occupied, const int64_t size[3],
                                       const double grid_min[3], double voxel_size,
                                       const double origin[3], const double direction[3],
                                       double* distance, int64_t voxel[3]) {
  const double norm = sqrt(direction[0] * direction[0] + direction[1] * direction[1] +
                           direction[2] * direction[2]);
  double origin_vox[3], unit[3];
  for (int a = 0; a < 3; ++a) {
    origin_vox[a] = (origin[a] - grid_min[a]) / voxel_size;
    unit[a] = direction[a] / norm;
  }
  double exit_t;
  traverse_ray(occupied, size, origin_vox, unit, &exit_t, voxel);
  *distance = exit_t * voxel_size;
}

}  // namespace gdocc
