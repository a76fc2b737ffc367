// Device-side helpers shared by the .cu files: warp and block reductions, 128-bit packs,
// launch-size arithmetic and the post-launch check. Internal to kernels/cuda/.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstring>

#include "cuda/cuda_common.h"
#include "cuda/vector_access.h"

namespace llmrt::kernels::cuda::detail {

inline constexpr unsigned kFullMask = 0xffffffffu;

__device__ __forceinline__ float warp_sum(float x) {
  for (int off = 16; off > 0; off >>= 1) x += __shfl_xor_sync(kFullMask, x, off);
  return x;
}

__device__ __forceinline__ float warp_max(float x) {
  for (int off = 16; off > 0; off >>= 1) x = fmaxf(x, __shfl_xor_sync(kFullMask, x, off));
  return x;
}

// Sum over the whole block; every thread gets the result. blockDim.x a multiple of 32, <= 1024.
// `scratch` holds 32 floats of shared memory; the trailing barrier lets callers reuse it.
__device__ __forceinline__ float block_sum(float x, float* scratch) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  x = warp_sum(x);
  if (lane == 0) scratch[warp] = x;
  __syncthreads();
  x = lane < warps ? scratch[lane] : 0.0f;
  x = warp_sum(x);
  __syncthreads();
  return x;
}

__device__ __forceinline__ float block_max(float x, float* scratch) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  x = warp_max(x);
  if (lane == 0) scratch[warp] = x;
  __syncthreads();
  x = lane < warps ? scratch[lane] : -INFINITY;
  x = warp_max(x);
  __syncthreads();
  return x;
}

__device__ __forceinline__ float to_float(float x) { return x; }
__device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float to_float(__half x) { return __half2float(x); }
template <typename T>
__device__ __forceinline__ T from_float(float x);
template <>
__device__ __forceinline__ float from_float<float>(float x) { return x; }
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float x) { return __float2bfloat16(x); }
template <>
__device__ __forceinline__ __half from_float<__half>(float x) { return __float2half_rn(x); }

// N elements of T moved as whole 16-byte accesses (N * sizeof(T) a multiple of 16): llm.c's
// Packed128 generalised so a float array can step beside a bf16 one (8 floats = two accesses).
// load/store need a 16-byte aligned pointer: the host decides with vector_access.h.
template <typename T, int N>
struct alignas(16) Packed {
  static_assert(N > 0 && (N * sizeof(T)) % kVectorBytes == 0, "a pack is whole 16-byte accesses");
  static constexpr int kAccesses = int(N * sizeof(T) / kVectorBytes);
  T v[N];

  __device__ __forceinline__ static Packed load(const T* p) {
    Packed out;
    const int4* src = reinterpret_cast<const int4*>(p);
#pragma unroll
    for (int i = 0; i < kAccesses; i++) {
      const int4 bits = src[i];
      std::memcpy(reinterpret_cast<char*>(out.v) + i * kVectorBytes, &bits, kVectorBytes);
    }
    return out;
  }
  __device__ __forceinline__ void store(T* p) const {
    int4* dst = reinterpret_cast<int4*>(p);
#pragma unroll
    for (int i = 0; i < kAccesses; i++) {
      int4 bits;
      std::memcpy(&bits, reinterpret_cast<const char*>(v) + i * kVectorBytes, kVectorBytes);
      dst[i] = bits;
    }
  }
};

// The vector step of a kernel whose arrays are of these types (vector_access.h).
template <typename... Ts>
inline constexpr int kStep = vector_elems({sizeof(Ts)...});

inline unsigned ceil_div(std::size_t a, std::size_t b) { return unsigned((a + b - 1) / b); }

// Grid for an element-wise kernel with a grid-stride loop: enough blocks to fill any current
// GPU, capped so a huge n does not ask for more than the hardware limit.
inline unsigned elementwise_blocks(std::size_t n, int block) {
  const std::size_t want = (n + block - 1) / block;
  return unsigned(want < 65535 * 8 ? (want > 0 ? want : 1) : 65535 * 8);
}

// out[i] = in[i] converted through fp32 (rounded to nearest-even when narrowing); grid-stride.
template <typename Out, typename In>
__global__ void convert_kernel(Out* out, const In* in, std::size_t n) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n;
       i += std::size_t(gridDim.x) * blockDim.x) {
    out[i] = from_float<Out>(to_float(in[i]));
  }
}

// Launch errors (bad configuration, missing kernel image) surface here, at the launch site.
#define LLMRT_CUDA_CHECK_LAUNCH() LLMRT_CUDA_CHECK(cudaGetLastError())

}  // namespace llmrt::kernels::cuda::detail
