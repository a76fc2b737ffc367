// The attention kernels' two implementations, as attention_cuda.cu (the dispatcher behind
// kernels_cuda.h's attention_forward / attention_backward) calls them. Internal to kernels/cuda/.
// Shapes and contracts are those of kernels_cuda.h; dqkv is WRITTEN by both.
#pragma once

#include <cstddef>

#include "cuda/kernels_cuda.h"

namespace llmrt::kernels::cuda::detail {

// CUDA cores, fp32 arithmetic, T in {float, bf16, f16}; any head size in [1, 128]; no scratch.
template <typename T>
void attention_forward_simt(T* out, float* lse, const T* qkv, int B, int Tn, int C, int NH, cudaStream_t stream);
template <typename T>
void attention_backward_simt(T* dqkv, const T* dout, const T* qkv, const T* out, const float* lse, int B, int Tn,
                             int C, int NH, cudaStream_t stream);

// Tensor cores (mma.sync m16n8k16, fp32 accumulators), T in {bf16, f16}, sm_80 and newer, head
// size a multiple of 8 up to 128, qkv/out/dout/dqkv 16-byte aligned (attention_mma_takes says).
bool attention_mma_takes(int C, int NH, const void* const* pointers, int n_pointers);
template <typename T>
void attention_forward_mma(T* out, float* lse, const T* qkv, int B, int Tn, int C, int NH, cudaStream_t stream);
// scratch: attention_mma_scratch_bytes(B, Tn, C, NH) bytes, 256-byte aligned:
//   D: (B, NH, Tn) fp32 row sums of dout * out, then dq: (B, NH, Tn, hs) fp32 partial sums.
std::size_t attention_mma_scratch_bytes(int B, int Tn, int C, int NH);
template <typename T>
void attention_backward_mma(T* dqkv, const T* dout, const T* qkv, const T* out, const float* lse, void* scratch,
                            int B, int Tn, int C, int NH, cudaStream_t stream);

}  // namespace llmrt::kernels::cuda::detail
