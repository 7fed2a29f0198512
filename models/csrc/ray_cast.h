// Voxel traversal (Amanatides & Woo) shared by the CPU and CUDA kernels, so both take the
// same sequence of floating-point decisions.
#pragma once
#include <cmath>
#include <cstdint>

#include "host_device.h"

namespace gdocc {

// SparseOcc's lib/dvr/dvr.cu gives up on a ray after this many voxel steps.
constexpr int64_t kMaxSteps = 1000;

// Walks one ray through a [X, Y, Z] occupancy grid in voxel units (voxel (i, j, k) spans
// [i, i+1) x [j, j+1) x [k, k+1)), as SparseOcc's lib/dvr/dvr.cu does:
//  * the start voxel is the origin truncated towards zero (so an origin within one voxel
//    below the grid starts in layer 0); an origin outside the grid walks, without looking
//    at occupancy, until it enters the grid;
//  * a boundary tie goes to the later axis (strict comparisons, z before y before x);
//  * the walk stops at the first occupied voxel, or when it leaves the grid after being
//    inside (the last voxel inside is reported), or after kMaxSteps steps.
// Writes the ray parameter t at which the ray leaves the reported voxel (point = origin +
// t * direction) and the voxel's index. A ray that never enters the grid reports t = -1
// and voxel (0, 0, 0), SparseOcc's untouched outputs. The direction must be non-zero and
// the origin finite.
GDOCC_HOST_DEVICE void traverse_ray(const bool* occupied, const int64_t size[3],
                                    const double origin[3], const double direction[3],
                                    double* exit_t, int64_t voxel[3]) {
  int64_t v[3], step[3], last[3];
  double t_max[3], t_delta[3];
  for (int a = 0; a < 3; ++a) {
    v[a] = static_cast<int64_t>(origin[a]);  // truncation, as dvr.cu's int(x)
    step[a] = direction[a] >= 0 ? 1 : -1;
    if (direction[a] != 0) {
      t_max[a] = (static_cast<double>(v[a] + (step[a] < 0 ? 0 : 1)) - origin[a]) / direction[a];
      t_delta[a] = static_cast<double>(step[a]) / direction[a];
    } else {
      t_max[a] = INFINITY;
      t_delta[a] = INFINITY;
    }
    // The index at which a step along this axis would leave the grid.
    last[a] = step[a] > 0 ? size[a] - 1 : 0;
  }
  int64_t x = v[0], y = v[1], z = v[2];
  double tx = t_max[0], ty = t_max[1], tz = t_max[2];
  int64_t steps = 0;
  // Outside the grid: step until inside, or until some axis lies outside and never comes
  // back (moving away or not moving), which dvr.cu only notices after kMaxSteps.
  while (x < 0 || x >= size[0] || y < 0 || y >= size[1] || z < 0 || z >= size[2]) {
    const bool hopeless =
        (x < 0 && (step[0] < 0 || direction[0] == 0)) || (x >= size[0] && step[0] > 0) ||
        (y < 0 && (step[1] < 0 || direction[1] == 0)) || (y >= size[1] && step[1] > 0) ||
        (z < 0 && (step[2] < 0 || direction[2] == 0)) || (z >= size[2] && step[2] > 0);
    if (hopeless || steps >= kMaxSteps) {
      *exit_t = -1.0;
      voxel[0] = voxel[1] = voxel[2] = 0;
      return;
    }
    const bool x_first = tx < ty;
    const bool along_z = !((x_first ? tx : ty) < tz);
    const bool along_x = !along_z && x_first;
    const bool along_y = !along_z && !x_first;
    x += along_x ? step[0] : 0;
    y += along_y ? step[1] : 0;
    z += along_z ? step[2] : 0;
    tx = along_x ? tx + t_delta[0] : tx;
    ty = along_y ? ty + t_delta[1] : ty;
    tz = along_z ? tz + t_delta[2] : tz;
    ++steps;
  }
  // Inside: the loop keeps its state in scalars and advances with selects instead of
  // branches or indexed stores: which axis steps next is unpredictable, and branch misses
  // and store-to-load stalls dominated an array-indexed version (3x slower).
  const int64_t stride_x = size[1] * size[2], stride_y = size[2];
  const int64_t lin_x = step[0] * stride_x, lin_y = step[1] * stride_y, lin_z = step[2];
  int64_t linear = x * stride_x + y * stride_y + z;
  while (true) {
    // Ties go to the later axis (dvr.cu's strict comparisons); the reference
    // implementation breaks them the same way.
    const bool x_first = tx < ty;
    const double t_xy = x_first ? tx : ty;
    const bool along_z = !(t_xy < tz);
    const bool along_x = !along_z && x_first;
    const bool along_y = !along_z && !x_first;
    const bool leaves = (along_x && x == last[0]) || (along_y && y == last[1]) ||
                        (along_z && z == last[2]);
    if (occupied[linear] || leaves || steps >= kMaxSteps) {
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
    ++steps;
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
