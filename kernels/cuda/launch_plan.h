// Launch shapes of the CUDA kernels whose grid is a decision rather than ceil(n / block): plain
// C++ (no CUDA headers), so tests/kernels checks on every machine that the grid covers the data
// once and stays inside the hardware's limits.
#pragma once

#include <algorithm>
#include <cstddef>

namespace llmrt::kernels::cuda {

// Column sums over (N, C) (column_sums.cuh): blocks of (32 columns) x (kRowsPerBlock rows);
// grid (tiles, row_blocks). Thread (x, y) of block (bx, by) adds column bx * 32 + x of rows
// by * kRowsPerBlock + y, then every row_blocks * kRowsPerBlock rows after it.
struct ColumnSumsGrid {
  static constexpr int kRowsPerBlock = 8;  // blockDim.y
  unsigned tiles, row_blocks;
};

// About 4 blocks per SM in all, each over at least 64 rows (every block ends in one atomic per
// column, so fewer blocks means fewer atomics), at most the grid's y limit (65535).
inline ColumnSumsGrid column_sums_grid(std::size_t N, std::size_t C, int sm_count) {
  const unsigned tiles = unsigned((C + 31) / 32);
  const unsigned want = std::max(1u, unsigned(4 * std::max(sm_count, 1)) / std::max(tiles, 1u));
  const unsigned enough = unsigned(std::max<std::size_t>(1, N / 64));
  return {tiles, std::min({want, enough, 65535u})};
}

}  // namespace llmrt::kernels::cuda
