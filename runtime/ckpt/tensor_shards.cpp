#include "ckpt/tensor_shards.h"

#include <algorithm>

namespace llmrt {

void place_slice(std::span<float> global, const std::vector<std::int64_t>& global_shape, int dim, int tp_rank,
                 int tp_size, std::span<const float> local) {
  if (dim < 0 || tp_size == 1) {
    std::copy(local.begin(), local.end(), global.begin());
    return;
  }
  // (outer, extent, inner) with the slice owning extent / tp_size rows of the middle dimension.
  std::size_t outer = 1, inner = 1;
  for (int d = 0; d < dim; ++d) outer *= static_cast<std::size_t>(global_shape[d]);
  for (std::size_t d = static_cast<std::size_t>(dim) + 1; d < global_shape.size(); ++d) {
    inner *= static_cast<std::size_t>(global_shape[d]);
  }
  const std::size_t extent = static_cast<std::size_t>(global_shape[static_cast<std::size_t>(dim)]);
  const std::size_t part = extent / static_cast<std::size_t>(tp_size) * inner;  // one outer row of the slice
  for (std::size_t o = 0; o < outer; ++o) {
    std::copy_n(local.begin() + static_cast<std::ptrdiff_t>(o * part), part,
                global.begin() + static_cast<std::ptrdiff_t>(o * extent * inner + static_cast<std::size_t>(tp_rank) * part));
  }
}

std::vector<float> assemble_along(const std::vector<std::vector<float>>& slices,
                                  const std::vector<std::int64_t>& global_shape, int dim) {
  std::size_t count = 1;
  for (std::int64_t extent : global_shape) count *= static_cast<std::size_t>(extent);
  std::vector<float> global(count);
  const int tp_size = static_cast<int>(slices.size());
  for (int r = 0; r < tp_size; ++r) place_slice(global, global_shape, dim, r, tp_size, slices[static_cast<std::size_t>(r)]);
  return global;
}

}  // namespace llmrt
