// The GemmDtype (gemm_rules.h, host-testable) of a storage type T: what the GEMM paths
// (matmul_cuda.cu, gemm_batched_cuda.cu) hand the plan rules for their operands.
#pragma once

#include <type_traits>

#include "cuda/cuda_common.h"
#include "cuda/gemm_rules.h"

namespace llmrt::kernels::cuda {

template <typename T>
constexpr GemmDtype gemm_dtype() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, bf16> || std::is_same_v<T, f16>, "T: fp32/bf16/fp16");
  if constexpr (std::is_same_v<T, float>) {
    return GemmDtype::kF32;
  } else if constexpr (std::is_same_v<T, bf16>) {
    return GemmDtype::kBf16;
  } else {
    return GemmDtype::kF16;
  }
}

}  // namespace llmrt::kernels::cuda
