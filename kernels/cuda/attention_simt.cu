// Fused causal self-attention on CUDA cores, for fp32 storage and any shape the tensor-core path
// (attention_mma_*.cu) refuses: a flash-style forward (online softmax over key tiles, saving only
// the row log-sum-exp) and a backward that recomputes probabilities from qkv and lse. fp32 FMA,
// storage type T in {float, bf16, f16}. Memory is O(B*T*C).
//
// Every kernel has the same shape. A block owns kBlockRows rows of one (batch, head): each of
// its kWarps warps holds kRows of them (in shared memory, for broadcast) and accumulates their
// results in registers, lane l owning dims l, l+32, ... . The other side of the product streams
// through shared memory in tiles of 32 rows; lane l computes the full dot product of its warp's
// row with tile row l, so a score costs no shuffles, and the tile's row stride kMaxHs + 1 is odd
// so those reads hit 32 different banks.
#include <cmath>

#include "cuda/attention_internal.h"
#include "cuda/device_utils.cuh"

namespace llmrt::kernels::cuda {
namespace {
using detail::to_float;

constexpr int kTile = 32;  // rows per streamed tile: one per lane
constexpr int kWarps = 4;
constexpr int kRows = 2;   // rows each warp owns
constexpr int kBlockRows = kWarps * kRows;
static_assert(kTile % kBlockRows == 0, "a block's rows must never straddle a key tile");

// Where one (b, h)'s rows live: row t of q, k, v at q + t * stride (+C, +2C); out/dout rows at
// o + t * C.
struct HeadPtrs {
  std::size_t qkv_off;  // offset of (b, t=0, part q, head h) in qkv
  std::size_t o_off;    // offset of (b, t=0, head h) in out
  std::size_t lse_off;  // offset of (b, h, t=0) in lse
};

__device__ __forceinline__ HeadPtrs head_ptrs(int Tn, int C, int NH, int hs) {
  const int b = blockIdx.y / NH, h = blockIdx.y % NH;
  return {std::size_t(b) * Tn * 3 * C + std::size_t(h) * hs, std::size_t(b) * Tn * C + std::size_t(h) * hs,
          std::size_t(blockIdx.y) * Tn};
}

// Copies rows [r0, r0 + count) of a T matrix (row stride `stride`) into fp32 shared memory
// with row stride S, times `scale`; rows at or past Tn are zero so dot products with them vanish.
template <typename T>
__device__ __forceinline__ void load_rows(float* dst, int S, const T* src, std::size_t stride,
                                          int r0, int count, int Tn, int hs, float scale) {
  for (int idx = threadIdx.x; idx < count * hs; idx += blockDim.x) {
    const int r = idx / hs, d = idx % hs;
    dst[r * S + d] = r0 + r < Tn ? to_float(src[std::size_t(r0 + r) * stride + d]) * scale : 0.0f;
  }
}

__device__ __forceinline__ float dot(const float* a, const float* b, int hs) {
  float s = 0.0f;
  for (int d = 0; d < hs; d++) s = fmaf(a[d], b[d], s);
  return s;
}

// acc[c] (dims lane + 32c) += w * row[dims].
template <int kDims>
__device__ __forceinline__ void axpy_row(float (&acc)[kDims], float w, const float* row, int hs) {
  const int lane = threadIdx.x % 32;
#pragma unroll
  for (int c = 0; c < kDims; c++) {
    if (lane + 32 * c < hs) acc[c] = fmaf(w, row[lane + 32 * c], acc[c]);
  }
}

// dst[dims] = acc * scale, WRITTEN (each element has exactly one owner).
template <int kDims, typename T>
__device__ __forceinline__ void store_row(T* dst, const float (&acc)[kDims], float scale, int hs) {
  const int lane = threadIdx.x % 32;
#pragma unroll
  for (int c = 0; c < kDims; c++) {
    const int d = lane + 32 * c;
    if (d < hs) dst[d] = detail::from_float<T>(acc[c] * scale);
  }
}

// Forward. Shared: k and v tiles (kTile rows each), the block's q rows pre-scaled by 1/sqrt(hs).
template <int kMaxHs, typename T>
__global__ void __launch_bounds__(kWarps * 32)
    attention_forward_kernel(T* out, float* lse, const T* qkv, int Tn, int C, int NH, float scale) {
  constexpr int S = kMaxHs + 1, kDims = kMaxHs / 32;
  extern __shared__ float smem[];
  float* k_tile = smem;
  float* v_tile = k_tile + kTile * S;
  float* q_rows = v_tile + kTile * S;
  const int hs = C / NH, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const HeadPtrs hp = head_ptrs(Tn, C, NH, hs);
  const int q0 = blockIdx.x * kBlockRows, last_q = min(q0 + kBlockRows, Tn) - 1;
  load_rows(q_rows, S, qkv + hp.qkv_off, 3 * std::size_t(C), q0, kBlockRows, Tn, hs, scale);

  float m[kRows], l[kRows], acc[kRows][kDims];
  for (int r = 0; r < kRows; r++) {
    m[r] = -INFINITY;
    l[r] = 0.0f;
    for (int c = 0; c < kDims; c++) acc[r][c] = 0.0f;
  }
  for (int k0 = 0; k0 <= last_q; k0 += kTile) {
    __syncthreads();  // the previous tile is consumed (and, first time, q_rows are written)
    load_rows(k_tile, S, qkv + hp.qkv_off + C, 3 * std::size_t(C), k0, kTile, Tn, hs, 1.0f);
    load_rows(v_tile, S, qkv + hp.qkv_off + 2 * C, 3 * std::size_t(C), k0, kTile, Tn, hs, 1.0f);
    __syncthreads();
    for (int r = 0; r < kRows; r++) {
      const int row = warp * kRows + r, t = q0 + row;
      if (t >= Tn) continue;  // warp-uniform
      float s = dot(q_rows + row * S, k_tile + lane * S, hs);
      if (k0 + lane > t) s = -INFINITY;  // causal mask; also covers keys past Tn
      const float tile_max = detail::warp_max(s);
      if (tile_max == -INFINITY) continue;
      const float m_new = fmaxf(m[r], tile_max);
      const float p = __expf(s - m_new), corr = __expf(m[r] - m_new);  // exp(-inf) = 0
      l[r] = l[r] * corr + detail::warp_sum(p);
      for (int c = 0; c < kDims; c++) acc[r][c] *= corr;
      const int keys = min(kTile, t - k0 + 1);
      for (int j = 0; j < keys; j++) {
        axpy_row<kDims>(acc[r], __shfl_sync(detail::kFullMask, p, j), v_tile + j * S, hs);
      }
      m[r] = m_new;
    }
  }
  for (int r = 0; r < kRows; r++) {
    const int t = q0 + warp * kRows + r;
    if (t >= Tn) continue;
    T* o = out + hp.o_off + std::size_t(t) * C;
    for (int c = 0; c < kDims; c++) {
      if (lane + 32 * c < hs) o[lane + 32 * c] = detail::from_float<T>(acc[r][c] / l[r]);
    }
    if (lane == 0) lse[hp.lse_off + t] = m[r] + logf(l[r]);
  }
}

// Backward, key side: the block owns keys, streams query tiles t >= its first key and
// accumulates dk = sum_t ds_tj q_t and dv = sum_t p_tj dout_t. D_t = dout_t . out_t (which equals
// sum_j p_tj dp_tj) is computed per query tile from out, so no scratch buffer is needed.
template <int kMaxHs, typename T>
__global__ void __launch_bounds__(kWarps * 32)
    attention_backward_dkdv_kernel(T* dqkv, const T* dout, const T* qkv, const T* out,
                                   const float* lse, int Tn, int C, int NH, float scale) {
  constexpr int S = kMaxHs + 1, kDims = kMaxHs / 32;
  extern __shared__ float smem[];
  float* q_tile = smem;
  float* do_tile = q_tile + kTile * S;
  float* lse_tile = do_tile + kTile * S;
  float* d_tile = lse_tile + kTile;
  float* k_rows = d_tile + kTile;
  float* v_rows = k_rows + kBlockRows * S;
  const int hs = C / NH, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const HeadPtrs hp = head_ptrs(Tn, C, NH, hs);
  const std::size_t stride = 3 * std::size_t(C);
  const int j0 = blockIdx.x * kBlockRows;
  load_rows(k_rows, S, qkv + hp.qkv_off + C, stride, j0, kBlockRows, Tn, hs, 1.0f);
  load_rows(v_rows, S, qkv + hp.qkv_off + 2 * C, stride, j0, kBlockRows, Tn, hs, 1.0f);

  float dk[kRows][kDims] = {}, dv[kRows][kDims] = {};
  for (int t0 = j0; t0 < Tn; t0 += kTile) {
    __syncthreads();
    load_rows(q_tile, S, qkv + hp.qkv_off, stride, t0, kTile, Tn, hs, 1.0f);
    load_rows(do_tile, S, dout + hp.o_off, C, t0, kTile, Tn, hs, 1.0f);
    for (int i = warp; i < kTile; i += kWarps) {
      const int t = t0 + i;
      float d = 0.0f;
      if (t < Tn) {
        const T* o_row = out + hp.o_off + std::size_t(t) * C;
        const T* do_row = dout + hp.o_off + std::size_t(t) * C;
        for (int c = lane; c < hs; c += 32) d += to_float(o_row[c]) * to_float(do_row[c]);
      }
      d = detail::warp_sum(d);
      if (lane == 0) {
        d_tile[i] = d;
        lse_tile[i] = t < Tn ? lse[hp.lse_off + t] : 0.0f;
      }
    }
    __syncthreads();
    for (int r = 0; r < kRows; r++) {
      const int row = warp * kRows + r, j = j0 + row;
      if (j >= Tn) continue;
      const int t = t0 + lane;
      const bool live = t < Tn && t >= j;
      const float s = dot(q_tile + lane * S, k_rows + row * S, hs) * scale;
      const float p = live ? __expf(s - lse_tile[lane]) : 0.0f;
      const float dp = dot(do_tile + lane * S, v_rows + row * S, hs);
      const float ds = p * (dp - d_tile[lane]) * scale;
      const int queries = min(kTile, Tn - t0);
      for (int i = 0; i < queries; i++) {
        axpy_row<kDims>(dv[r], __shfl_sync(detail::kFullMask, p, i), do_tile + i * S, hs);
        axpy_row<kDims>(dk[r], __shfl_sync(detail::kFullMask, ds, i), q_tile + i * S, hs);
      }
    }
  }
  for (int r = 0; r < kRows; r++) {
    const int j = j0 + warp * kRows + r;
    if (j >= Tn) continue;
    T* dk_row = dqkv + hp.qkv_off + std::size_t(j) * stride + C;
    store_row<kDims>(dk_row, dk[r], 1.0f, hs);
    store_row<kDims>(dk_row + C, dv[r], 1.0f, hs);
  }
}

// Backward, query side: the block owns queries, streams key tiles j <= t and accumulates
// dq = sum_j ds_tj k_j. Recomputing p here (rather than atomics from the key side) keeps dq
// deterministic and dqkv free of concurrent updates.
template <int kMaxHs, typename T>
__global__ void __launch_bounds__(kWarps * 32)
    attention_backward_dq_kernel(T* dqkv, const T* dout, const T* qkv, const T* out,
                                 const float* lse, int Tn, int C, int NH, float scale) {
  constexpr int S = kMaxHs + 1, kDims = kMaxHs / 32;
  extern __shared__ float smem[];
  float* k_tile = smem;
  float* v_tile = k_tile + kTile * S;
  float* q_rows = v_tile + kTile * S;
  float* do_rows = q_rows + kBlockRows * S;
  const int hs = C / NH, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const HeadPtrs hp = head_ptrs(Tn, C, NH, hs);
  const std::size_t stride = 3 * std::size_t(C);
  const int q0 = blockIdx.x * kBlockRows, last_q = min(q0 + kBlockRows, Tn) - 1;
  load_rows(q_rows, S, qkv + hp.qkv_off, stride, q0, kBlockRows, Tn, hs, 1.0f);
  load_rows(do_rows, S, dout + hp.o_off, C, q0, kBlockRows, Tn, hs, 1.0f);

  float row_lse[kRows], row_d[kRows], dq[kRows][kDims] = {};
  for (int r = 0; r < kRows; r++) {
    const int t = q0 + warp * kRows + r;
    float d = 0.0f;
    if (t < Tn) {
      const T* o_row = out + hp.o_off + std::size_t(t) * C;
      const T* do_row = dout + hp.o_off + std::size_t(t) * C;
      for (int c = lane; c < hs; c += 32) d += to_float(o_row[c]) * to_float(do_row[c]);
    }
    row_d[r] = detail::warp_sum(d);
    row_lse[r] = t < Tn ? lse[hp.lse_off + t] : 0.0f;
  }
  for (int k0 = 0; k0 <= last_q; k0 += kTile) {
    __syncthreads();
    load_rows(k_tile, S, qkv + hp.qkv_off + C, stride, k0, kTile, Tn, hs, 1.0f);
    load_rows(v_tile, S, qkv + hp.qkv_off + 2 * C, stride, k0, kTile, Tn, hs, 1.0f);
    __syncthreads();
    for (int r = 0; r < kRows; r++) {
      const int row = warp * kRows + r, t = q0 + row;
      if (t >= Tn) continue;
      const bool live = k0 + lane <= t;
      const float s = dot(q_rows + row * S, k_tile + lane * S, hs) * scale;
      const float p = live ? __expf(s - row_lse[r]) : 0.0f;
      const float dp = dot(do_rows + row * S, v_tile + lane * S, hs);
      const float ds = p * (dp - row_d[r]) * scale;
      const int keys = min(kTile, t - k0 + 1);
      for (int j = 0; j < keys; j++) {
        axpy_row<kDims>(dq[r], __shfl_sync(detail::kFullMask, ds, j), k_tile + j * S, hs);
      }
    }
  }
  for (int r = 0; r < kRows; r++) {
    const int t = q0 + warp * kRows + r;
    if (t < Tn) store_row<kDims>(dqkv + hp.qkv_off + std::size_t(t) * stride, dq[r], 1.0f, hs);
  }
}

// Shared memory of each kernel, in floats, for head-size bucket kMaxHs.
constexpr std::size_t forward_smem(int max_hs) { return (2 * kTile + kBlockRows) * std::size_t(max_hs + 1); }
constexpr std::size_t dkdv_smem(int max_hs) { return forward_smem(max_hs) + 2 * kTile + kBlockRows * std::size_t(max_hs + 1); }
constexpr std::size_t dq_smem(int max_hs) { return forward_smem(max_hs) + kBlockRows * std::size_t(max_hs + 1); }
static_assert(dkdv_smem(kMaxAttentionHeadSize) * sizeof(float) <= 48 * 1024, "stay under the default shared-memory limit");

// The kernels are compiled for head sizes up to 32, 64 and 128; smaller sizes leave lanes idle.
int head_size_bucket(int C, int NH) {
  const int hs = C / NH;
  if (NH <= 0 || C % NH != 0 || hs < 1 || hs > kMaxAttentionHeadSize) {
    throw CudaError("attention: head size C / NH = " + std::to_string(C) + " / " + std::to_string(NH) +
                    " must be a whole number in [1, " + std::to_string(kMaxAttentionHeadSize) + "]");
  }
  return hs <= 32 ? 32 : hs <= 64 ? 64 : 128;
}

template <int kMaxHs, typename T>
void launch_forward(T* out, float* lse, const T* qkv, int B, int Tn, int C, int NH, float scale,
                    cudaStream_t stream) {
  const dim3 grid(detail::ceil_div(Tn, kBlockRows), unsigned(B * NH));
  attention_forward_kernel<kMaxHs, T><<<grid, kWarps * 32, forward_smem(kMaxHs) * sizeof(float), stream>>>(
      out, lse, qkv, Tn, C, NH, scale);
  LLMRT_CUDA_CHECK_LAUNCH();
}

template <int kMaxHs, typename T>
void launch_backward(T* dqkv, const T* dout, const T* qkv, const T* out, const float* lse,
                     int B, int Tn, int C, int NH, float scale, cudaStream_t stream) {
  const dim3 grid(detail::ceil_div(Tn, kBlockRows), unsigned(B * NH));
  attention_backward_dkdv_kernel<kMaxHs, T><<<grid, kWarps * 32, dkdv_smem(kMaxHs) * sizeof(float), stream>>>(
      dqkv, dout, qkv, out, lse, Tn, C, NH, scale);
  LLMRT_CUDA_CHECK_LAUNCH();
  attention_backward_dq_kernel<kMaxHs, T><<<grid, kWarps * 32, dq_smem(kMaxHs) * sizeof(float), stream>>>(
      dqkv, dout, qkv, out, lse, Tn, C, NH, scale);
  LLMRT_CUDA_CHECK_LAUNCH();
}

}  // namespace

namespace detail {

template <typename T>
void attention_forward_simt(T* out, float* lse, const T* qkv, int B, int Tn, int C, int NH, cudaStream_t stream) {
  const float scale = 1.0f / std::sqrt(float(C / NH));
  switch (head_size_bucket(C, NH)) {
    case 32: return launch_forward<32>(out, lse, qkv, B, Tn, C, NH, scale, stream);
    case 64: return launch_forward<64>(out, lse, qkv, B, Tn, C, NH, scale, stream);
    default: return launch_forward<128>(out, lse, qkv, B, Tn, C, NH, scale, stream);
  }
}

template <typename T>
void attention_backward_simt(T* dqkv, const T* dout, const T* qkv, const T* out, const float* lse, int B, int Tn,
                             int C, int NH, cudaStream_t stream) {
  const float scale = 1.0f / std::sqrt(float(C / NH));
  switch (head_size_bucket(C, NH)) {
    case 32: return launch_backward<32>(dqkv, dout, qkv, out, lse, B, Tn, C, NH, scale, stream);
    case 64: return launch_backward<64>(dqkv, dout, qkv, out, lse, B, Tn, C, NH, scale, stream);
    default: return launch_backward<128>(dqkv, dout, qkv, out, lse, B, Tn, C, NH, scale, stream);
  }
}

#define LLMRT_ATTENTION_SIMT(T)                                                                              \
  template void attention_forward_simt<T>(T*, float*, const T*, int, int, int, int, cudaStream_t);          \
  template void attention_backward_simt<T>(T*, const T*, const T*, const T*, const float*, int, int, int, int, \
                                           cudaStream_t);
LLMRT_ATTENTION_SIMT(float)
LLMRT_ATTENTION_SIMT(bf16)
LLMRT_ATTENTION_SIMT(f16)
#undef LLMRT_ATTENTION_SIMT

}  // namespace detail
}  // namespace llmrt::kernels::cuda
