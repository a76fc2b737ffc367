// Tensor descriptors the host hands to plugins: contiguous, row-major, on the CPU. One builder
// for the runtime and its tests, so every caller fills strides and struct_size the same way.
#pragma once

#include <cstdint>
#include <vector>

#include <llmrt/plugin.h>

namespace llmrt {

// `data` may be null: a shape description for infer_shapes.
inline llmrt_tensor host_tensor(void* data, llmrt_dtype dtype, const std::vector<std::int64_t>& shape) {
  llmrt_tensor tensor{};
  tensor.struct_size = sizeof(tensor);
  tensor.dtype = dtype;
  tensor.rank = static_cast<std::int32_t>(shape.size());
  std::int64_t stride = 1;
  for (int d = tensor.rank - 1; d >= 0; --d) {
    tensor.shape[d] = shape[static_cast<std::size_t>(d)];
    tensor.strides[d] = stride;
    stride *= shape[static_cast<std::size_t>(d)];
  }
  tensor.device = llmrt_device{LLMRT_DEVICE_CPU, 0};
  tensor.data = data;
  return tensor;
}

}  // namespace llmrt
