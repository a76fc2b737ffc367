// Device helpers of the FlashAttention-2-style tensor-core attention (attention_mma_fwd.cu,
// attention_mma_bwd.cu): mma.sync m16n8k16 with bf16/f16 inputs and fp32 accumulators, sm_80+.
// The index arithmetic lives in attention_tiling.h, where the CPU tests check it;
// tests/kernels/attention_tiling_test.cpp also runs a CPU emulation of these kernels' algorithm
// (same tiles, same online-softmax order, same roundings) against kernels/ref.
//
// Every mma operand is read from a row-major shared-memory matrix as 32-bit pairs of adjacent
// elements (attention_tiling.h: load_a / load_b below), so a matrix that serves as a B operand
// along its rows is stored transposed (V in the forward; Q, dO and K in the backward).
// Forward: a CTA = 4 warps owns 64 query rows of one (b, h) (16 per warp), streams 64-key tiles
// of K and V through shared memory (single-buffered: no cp.async yet) and keeps the output, the
// running max and sum in registers; tiles past the causal diagonal are never visited.
// Backward: D = rowsum(dO * O) first; then a CTA owns 64 keys (16 per warp), keeps dK, dV in
// registers, streams query tiles from the diagonal on, and adds dQ = dS K into an fp32 scratch
// with atomics; a last pass writes dQ into dqkv. dqkv is WRITTEN, never read.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

#include "cuda/attention_internal.h"
#include "cuda/attention_tiling.h"
#include "cuda/device_utils.cuh"

namespace llmrt::kernels::cuda::mma_attention {
namespace at = attention_tiling;
using detail::from_float;
using detail::to_float;

inline constexpr float kLog2e = 1.4426950408889634f;
inline constexpr float kLn2 = 0.6931471805599453f;
inline constexpr int kThreads = at::kWarps * 32;

// d += a (16 x 16) * b (16 x 8); fragments as attention_tiling.h describes.
template <typename T>
__device__ __forceinline__ void mma_16816(float (&d)[4], const std::uint32_t (&a)[4], const std::uint32_t (&b)[2]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  if constexpr (std::is_same_v<T, bf16>) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  } else {
    static_assert(std::is_same_v<T, f16>, "mma takes bf16 or f16");
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  }
#else
  __trap();  // the host dispatcher sends only sm_80+ devices here
#endif
}

// Two floats rounded to T and packed, the lower index in the low half (as mma expects).
template <typename T>
__device__ __forceinline__ std::uint32_t pack2(float lo, float hi) {
  std::uint32_t u;
  if constexpr (std::is_same_v<T, bf16>) {
    const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    std::memcpy(&u, &v, 4);
  } else {
    const __half2 v = __floats2half2_rn(lo, hi);
    std::memcpy(&u, &v, 4);
  }
  return u;
}

// Elements (row, col), (row, col + 1) of a shared matrix with row stride `stride`; col even.
template <typename T>
__device__ __forceinline__ std::uint32_t lds_pair(const T* m, int stride, int row, int col) {
  return *reinterpret_cast<const std::uint32_t*>(m + row * stride + col);
}

// A fragment of the 16 x 16 block of m at (r0, k0).
template <typename T>
__device__ __forceinline__ void load_a(std::uint32_t (&a)[4], const T* m, int stride, int r0, int k0, int lane) {
#pragma unroll
  for (int reg = 0; reg < 4; reg++) {
    a[reg] = lds_pair(m, stride, r0 + at::a_reg_row(lane, reg), k0 + at::a_reg_col(lane, reg));
  }
}

// B fragment of the 16 x 8 block (k0, n0) of a matrix stored n-major: nk[n][k].
template <typename T>
__device__ __forceinline__ void load_b(std::uint32_t (&b)[2], const T* nk, int stride, int n0, int k0, int lane) {
#pragma unroll
  for (int reg = 0; reg < 2; reg++) b[reg] = lds_pair(nk, stride, n0 + at::b_reg_n(lane), k0 + at::b_reg_k(lane, reg));
}

// A fragment of the 16 x 16 block at column 16 * kk of a row of C tiles (fp32 accumulators),
// rounded to T: FlashAttention-2's register reuse (attention_tiling.h, a_from_c_*).
template <typename T, int kTiles>
__device__ __forceinline__ void a_from_c(std::uint32_t (&a)[4], const float (&c)[kTiles][4], int kk) {
#pragma unroll
  for (int reg = 0; reg < 4; reg++) {
    const float* tile = c[2 * kk + at::a_from_c_tile(reg)];
    const int e = at::a_from_c_elem(reg);
    a[reg] = pack2<T>(tile[e], tile[e + 1]);
  }
}

// Rows [r0, r0 + rows) x dims [0, D) of one head's matrix in global memory (row stride ld
// elements, hs real dims) into shared memory: row-major into dst (row stride S) and/or
// transposed into dst_t (dst_t[d * St + r]). Rows at or past Tn and dims at or past hs are zero.
// 16-byte loads: the dispatcher checked hs % 8 == 0 and 16-byte aligned base pointers.
// Thread order: without a transpose, consecutive threads take consecutive 16-byte chunks of a
// row (coalesced reads); with one, consecutive rows of a chunk, so the 2-byte transposed stores
// of a warp land in 16 consecutive words instead of one bank (the row-major stores stay
// conflict-free: the padded stride puts 8 consecutive rows in 8 different 4-bank groups).
template <typename T, int D, bool kRowMajor, bool kTransposed>
__device__ __forceinline__ void load_tile(T* dst, int S, T* dst_t, int St, const T* src, std::size_t ld, int r0,
                                          int rows, int Tn, int hs) {
  static_assert(kRowMajor || kTransposed, "a load stores somewhere");
  constexpr int kChunks = D / 8;
  for (int idx = threadIdx.x; idx < rows * kChunks; idx += blockDim.x) {
    const int r = at::tile_load_row(idx, rows, kChunks, kTransposed);
    const int c = at::tile_load_col(idx, rows, kChunks, kTransposed);
    uint4 v = make_uint4(0, 0, 0, 0);
    if (r0 + r < Tn && c < hs) v = *reinterpret_cast<const uint4*>(src + std::size_t(r0 + r) * ld + c);
    if constexpr (kRowMajor) *reinterpret_cast<uint4*>(dst + r * S + c) = v;
    if constexpr (kTransposed) {
      T e[8];
      std::memcpy(e, &v, sizeof(v));
#pragma unroll
      for (int i = 0; i < 8; i++) dst_t[(c + i) * St + r] = e[i];
    }
  }
}

// Max and sum over the 4 lanes of a quad (the threads that share a C-fragment row).
__device__ __forceinline__ float quad_max(float x) {
  x = fmaxf(x, __shfl_xor_sync(detail::kFullMask, x, 1));
  return fmaxf(x, __shfl_xor_sync(detail::kFullMask, x, 2));
}
__device__ __forceinline__ float quad_sum(float x) {
  x += __shfl_xor_sync(detail::kFullMask, x, 1);
  return x + __shfl_xor_sync(detail::kFullMask, x, 2);
}

// One (b, h)'s base offsets: qkv row t of q at qkv_off + t * 3C (k at +C, v at +2C); out/dout
// row t at o_off + t * C; lse, D and the dq scratch rows at bh * Tn.
struct Head {
  std::size_t qkv_off, o_off, bh;
};
__device__ __forceinline__ Head head_of(int Tn, int C, int NH, int hs) {
  const int b = blockIdx.y / NH, h = blockIdx.y % NH;
  return {std::size_t(b) * Tn * 3 * C + std::size_t(h) * hs, std::size_t(b) * Tn * C + std::size_t(h) * hs,
          std::size_t(blockIdx.y)};
}

// Opts a kernel into more than 48 KiB of dynamic shared memory (per device, so on every launch:
// the call is a cheap attribute write, and a process may drive several devices).
template <typename Kernel>
void allow_smem(Kernel kernel, int bytes) {
  if (bytes > 48 * 1024) {
    LLMRT_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes));
  }
}

// Calls f(std::integral_constant<int, D>{}) for the head size padded to 16 (attention_tiling.h).
template <typename F>
void with_padded_head_size(int hs, F&& f) {
  switch (at::padded_head_size(hs)) {
    case 16: return f(std::integral_constant<int, 16>{});
    case 32: return f(std::integral_constant<int, 32>{});
    case 48: return f(std::integral_constant<int, 48>{});
    case 64: return f(std::integral_constant<int, 64>{});
    case 80: return f(std::integral_constant<int, 80>{});
    case 96: return f(std::integral_constant<int, 96>{});
    case 112: return f(std::integral_constant<int, 112>{});
    case 128: return f(std::integral_constant<int, 128>{});
    default: throw CudaError("attention (tensor cores): head size " + std::to_string(hs) + " is not in [1, 128]");
  }
}

}  // namespace llmrt::kernels::cuda::mma_attention
