// Tensor-parallel slices and the global tensor: where rank r of n's slice of a tensor sits along
// its shard dimension. The inverse of ParamStore's slice_along; gathering a model for sampling
// and resharding a checkpoint both assemble global tensors with it.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace llmrt {

// Writes `local`, the tp_rank-th of tp_size equal slices of a row-major tensor of `global_shape`
// along `dim` (dim < 0: not sharded, `local` is the whole tensor), into `global` (product of
// global_shape values).
void place_slice(std::span<float> global, const std::vector<std::int64_t>& global_shape, int dim, int tp_rank,
                 int tp_size, std::span<const float> local);

// The global tensor from all tp_size slices, slices[r] being rank r's.
std::vector<float> assemble_along(const std::vector<std::vector<float>>& slices,
                                  const std::vector<std::int64_t>& global_shape, int dim);

}  // namespace llmrt
