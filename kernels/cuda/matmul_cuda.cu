// Matmuls of the linear layers through cuBLASLt, at T in {fp32, bf16, fp16}: fp32 compute (no
// TF32), bias and GELU fused as epilogues where cuBLASLt takes them, fp32 weight gradients
// accumulated in place (beta = 1). Each GEMM's desc, layouts and algorithm are cached in the
// GemmContext (gemm_plan.h); the layout math and fallback rules are in gemm_rules.h.
// Fallbacks, each counted on the context: a plain kernel when cuBLASLt has no algorithm for a
// layout (odd test shapes), and the unfused path (GEMM, then a bias/GELU kernel) when it refuses
// an epilogue.
#include <cstdint>
#include <string>
#include <type_traits>

#include "cuda/cublaslt_library.h"
#include "cuda/device_utils.cuh"
#include "cuda/gemm_dtype.cuh"
#include "cuda/gemm_plan.h"
#include "cuda/gemm_rules.h"
#include "cuda/kernels_cuda.h"

namespace llmrt::kernels::cuda {
namespace {
using detail::from_float;
using detail::to_float;

// The fallback GEMM: one thread per row i of D, walking columns j; fp32 accumulation. Correct
// for any layout (gemm_rules.h's offsets), slow. a, b: T; d: D (T, or fp32 for dweight).
constexpr int kFallbackBlock = 128;
template <typename T, typename D>
__global__ void gemm_fallback_kernel(GemmShape g, const T* a, const T* b, D* d, float beta) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= g.m) return;
  for (int j = blockIdx.y; j < g.n; j += gridDim.y) {
    float acc = 0.0f;
    for (int p = 0; p < g.k; p++) acc += to_float(a[gemm_a_offset(g, i, p)]) * to_float(b[gemm_b_offset(g, p, j)]);
    D* out = d + gemm_d_offset(g, i, j);
    if (beta != 0.0f) acc += beta * to_float(*out);  // beta 0 never reads D (it may hold NaN)
    *out = from_float<D>(acc);
  }
}

// out (N, OC) += bias (OC) broadcast over rows; grid-stride. The unfused bias epilogue.
template <typename T>
__global__ void add_bias_kernel(T* out, const T* bias, std::size_t n, int OC) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n;
       i += std::size_t(gridDim.x) * blockDim.x) {
    out[i] = from_float<T>(to_float(out[i]) + to_float(bias[i % OC]));
  }
}

// dbias (OC) fp32 += column sums of dout (N, OC); block (32, 8), grid from bias_grad_grid.
// Thread (x, y) of block (bx, by) owns columns [o0, o0 + kVec), o0 = (bx * 32 + x) * kVec, and
// rows by * rows_per_split + y, + 8, ... below its split's end. kVec > 1 reads them with one
// 16-byte load per row (the host checked OC % kVec == 0 and a 16-byte aligned dout, so every
// row's vectors are aligned): a warp reads 32 * 16 contiguous bytes of a row. The 8 rows of
// partial sums meet in shared memory laid out [row][v][x], so the final sum reads 32
// consecutive floats per step (no bank conflicts); one atomic per column per block.
static_assert(kBiasGradThreadsX == 32, "one warp spans the threads of a block row");
static_assert(kBiasGradThreadsX * kBiasGradRowsPerThread <= 1024, "block too large");
template <typename T, int kVec>
__global__ void bias_grad_kernel(float* dbias, const T* dout, int N, int OC, int rows_per_split) {
  static_assert(kVec == 1 || kVec * sizeof(T) == sizeof(uint4), "one element or one 16-byte vector per row");
  __shared__ float partial[kBiasGradRowsPerThread][kVec][kBiasGradThreadsX];  // 8 KiB at kVec 8
  const int o0 = (blockIdx.x * kBiasGradThreadsX + threadIdx.x) * kVec;
  const int row_begin = blockIdx.y * rows_per_split;
  const int row_end = min(N, row_begin + rows_per_split);
  float acc[kVec] = {};
  if (o0 < OC) {  // with kVec > 1, OC % kVec == 0: all kVec columns are in range
    for (int i = row_begin + threadIdx.y; i < row_end; i += kBiasGradRowsPerThread) {
      const T* row = dout + std::size_t(i) * OC + o0;
      if constexpr (kVec == 1) {
        acc[0] += to_float(row[0]);
      } else {
        const uint4 packed = *reinterpret_cast<const uint4*>(row);
        T v[kVec];
        memcpy(v, &packed, sizeof(packed));
#pragma unroll
        for (int k = 0; k < kVec; k++) acc[k] += to_float(v[k]);
      }
    }
  }
#pragma unroll
  for (int k = 0; k < kVec; k++) partial[threadIdx.y][k][threadIdx.x] = acc[k];
  __syncthreads();
  if (threadIdx.y == 0 && o0 < OC) {
#pragma unroll
    for (int k = 0; k < kVec; k++) {
      float sum = acc[k];
      for (int r = 1; r < kBiasGradRowsPerThread; r++) sum += partial[r][k][threadIdx.x];
      atomicAdd(&dbias[o0 + k], sum);
    }
  }
}

template <typename T>
void launch_bias_grad(float* dbias, const T* dout, int N, int OC, int sm_count, cudaStream_t stream) {
  constexpr int kVec = int(sizeof(uint4) / sizeof(T));
  const int width = bias_grad_vector_width(sizeof(T), OC, reinterpret_cast<std::uintptr_t>(dout));
  const BiasGradGrid grid = bias_grad_grid(N, OC, sm_count, width);
  const dim3 blocks(grid.column_blocks, grid.row_splits), threads(kBiasGradThreadsX, kBiasGradRowsPerThread);
  if (grid.vector_width == kVec) {
    bias_grad_kernel<T, kVec><<<blocks, threads, 0, stream>>>(dbias, dout, N, OC, grid.rows_per_split);
  } else {
    bias_grad_kernel<T, 1><<<blocks, threads, 0, stream>>>(dbias, dout, N, OC, grid.rows_per_split);
  }
  LLMRT_CUDA_CHECK_LAUNCH();
}

template <typename T, typename D>
void launch_fallback(const GemmShape& g, const GemmOperands& ops, bool accumulate, cudaStream_t stream) {
  const dim3 grid(detail::ceil_div(g.m, kFallbackBlock), unsigned(g.n < 65535 ? g.n : 65535));
  gemm_fallback_kernel<T, D><<<grid, kFallbackBlock, 0, stream>>>(
      g, static_cast<const T*>(ops.a), static_cast<const T*>(ops.b), static_cast<D*>(ops.d), accumulate ? 1.0f : 0.0f);
  LLMRT_CUDA_CHECK_LAUNCH();
}

// Runs one GEMM (D = op(A) op(B) [+ D] [epilogue]) through its cached plan. Returns false,
// having run nothing, when a fused epilogue is refused (disabled, its rules, no algorithm, or
// cublasLtMatmul's refusal of the heuristic's algorithm, remembered by the plan):
// the caller runs the unfused path. A plain GEMM with no algorithm runs the fallback kernel, or
// throws naming its shape when the context allows no fallback.
template <typename T, typename D>
bool run_gemm(GemmContext& ctx, const GemmShape& g, GemmEpilogue epilogue, bool accumulate, int aux_ld,
              const GemmOperands& ops, cudaStream_t stream) {
  if (g.m == 0 || g.n == 0) return true;  // nothing to write (cuBLASLt refuses empty layouts)
  if (g.k == 0) {                          // D = beta D: the plain kernel does that, epilogues unfused
    if (epilogue != GemmEpilogue::kNone) return false;
    launch_fallback<T, D>(g, ops, accumulate, stream);
    return true;
  }
  if (epilogue != GemmEpilogue::kNone) {
    if (!ctx.epilogue_fusion()) return false;
    if (!check_fused_epilogue(epilogue, g.m, aux_ld, reinterpret_cast<std::uintptr_t>(ops.aux)).fusable) return false;
    // The heuristic's alignment preferences cover A, B, C and D, not the bias: it may pick a
    // kernel that reads the bias 16 bytes at a time, which faults (misaligned address) on a bias
    // at an odd offset of a flat parameter buffer. Such a bias takes the unfused path.
    if (epilogue_has_bias(epilogue) && alignment_of(ops.bias) < 16) return false;
  }
  const GemmKey key = make_gemm_key(g, gemm_dtype<T>(), gemm_dtype<D>(), epilogue, accumulate, aux_ld, ops);
  GemmPlan& plan = ctx.plans().find(ctx.handle(), key, ops, ctx.workspace_bytes());
  // run() is false only when cublasLtMatmul refused a fused epilogue: the plan remembers that
  // (has_algo() false from then on) and the caller runs the unfused path.
  if (plan.has_algo() && plan.run(ctx.handle(), ops, ctx.workspace(), ctx.workspace_bytes(), stream)) return true;
  if (epilogue != GemmEpilogue::kNone) return false;
  if (!ctx.fallback_allowed()) {
    throw CudaError("cuBLASLt has no algorithm for " + describe(key) + " (heuristic: " +
                    cublaslt().GetStatusName(plan.heuristic_status()) +
                    ") and this GemmContext allows no fallback kernel");
  }
  ctx.note_fallback();
  launch_fallback<T, D>(g, ops, accumulate, stream);
  return true;
}

}  // namespace

// A = weight, B = inp, D = out (gemm_rules.h: forward_gemm); bias as the BIAS epilogue.
template <typename T>
void matmul_forward(T* out, const T* inp, const T* weight, const T* bias, int N, int C, int OC, GemmContext& gemm,
                    cudaStream_t stream) {
  const GemmShape g = forward_gemm(N, C, OC);
  const GemmOperands ops{weight, inp, out, bias, nullptr};
  if (bias != nullptr) {
    if (run_gemm<T, T>(gemm, g, GemmEpilogue::kBias, false, 0, ops, stream)) return;
    gemm.note_epilogue_fallback();
  }
  run_gemm<T, T>(gemm, g, GemmEpilogue::kNone, false, 0, ops, stream);
  if (bias != nullptr && N > 0 && OC > 0) {
    const std::size_t n = std::size_t(N) * OC;
    add_bias_kernel<T><<<detail::elementwise_blocks(n, 256), 256, 0, stream>>>(out, bias, n, OC);
    LLMRT_CUDA_CHECK_LAUNCH();
  }
}

// GELU_AUX_BIAS: aux = pre (N, OC) row-major = (OC, N) col-major, ld OC = D's rows.
template <typename T>
void matmul_forward_gelu(T* out, T* pre, const T* inp, const T* weight, const T* bias, int N, int C, int OC,
                         GemmContext& gemm, cudaStream_t stream) {
  const GemmOperands ops{weight, inp, out, bias, pre};
  if (bias != nullptr &&
      run_gemm<T, T>(gemm, forward_gemm(N, C, OC), GemmEpilogue::kGeluAuxBias, false, OC, ops, stream)) {
    return;
  }
  gemm.note_epilogue_fallback();
  matmul_forward(pre, inp, weight, bias, N, C, OC, gemm, stream);
  gelu_forward(out, pre, std::size_t(N) * OC, stream);
}

// A = weight, B = dout, D = dinp (backward_input_gemm); beta 1 accumulates, 0 overwrites.
template <typename T>
void matmul_backward_input(T* dinp, const T* dout, const T* weight, int N, int C, int OC, GemmContext& gemm,
                           cudaStream_t stream, bool accumulate) {
  const GemmOperands ops{weight, dout, dinp, nullptr, nullptr};
  run_gemm<T, T>(gemm, backward_input_gemm(N, C, OC), GemmEpilogue::kNone, accumulate, 0, ops, stream);
}

// DGELU: D = dpre (C, N) col-major; aux = pre (N, C) row-major = (C, N) col-major, ld C. The
// epilogue only reads aux; cuBLASLt's attribute is one void* for both directions.
template <typename T>
void matmul_backward_input_gelu(T* dpre, const T* dout, const T* weight, const T* pre, int N, int C, int OC,
                                GemmContext& gemm, cudaStream_t stream) {
  const GemmOperands ops{weight, dout, dpre, nullptr, const_cast<T*>(pre)};
  if (run_gemm<T, T>(gemm, backward_input_gemm(N, C, OC), GemmEpilogue::kDGelu, false, C, ops, stream)) return;
  gemm.note_epilogue_fallback();
  matmul_backward_input(dpre, dout, weight, N, C, OC, gemm, stream, /*accumulate=*/false);
  gelu_backward_overwrite(dpre, pre, dpre, std::size_t(N) * C, stream);
}

// A = inp, B = dout, D = dweight fp32 += (backward_weight_gemm). dbias: our own column-sum
// kernel rather than cuBLASLt's BGRADB epilogue, which overwrites its output (it would need a
// scratch and an add kernel: no fewer launches) and whose fp32-bias support beside 16-bit
// operands could not be checked on a GPU when this was written.
template <typename T>
void matmul_backward_weight(float* dweight, float* dbias, const T* dout, const T* inp, int N, int C, int OC,
                            GemmContext& gemm, cudaStream_t stream) {
  const GemmOperands ops{inp, dout, dweight, nullptr, nullptr};
  run_gemm<T, float>(gemm, backward_weight_gemm(N, C, OC), GemmEpilogue::kNone, true, 0, ops, stream);
  if (dbias != nullptr && N > 0 && OC > 0) launch_bias_grad(dbias, dout, N, OC, gemm.sm_count(), stream);
}

template <typename T>
void matmul_backward(T* dinp, float* dweight, float* dbias, const T* dout, const T* inp, const T* weight, int N, int C,
                     int OC, GemmContext& gemm, cudaStream_t stream) {
  matmul_backward_input(dinp, dout, weight, N, C, OC, gemm, stream, /*accumulate=*/true);
  matmul_backward_weight(dweight, dbias, dout, inp, N, C, OC, gemm, stream);
}

#define LLMRT_INSTANTIATE_MATMUL(T)                                                                                \
  template void matmul_forward<T>(T*, const T*, const T*, const T*, int, int, int, GemmContext&, cudaStream_t);    \
  template void matmul_forward_gelu<T>(T*, T*, const T*, const T*, const T*, int, int, int, GemmContext&,          \
                                       cudaStream_t);                                                              \
  template void matmul_backward_input<T>(T*, const T*, const T*, int, int, int, GemmContext&, cudaStream_t, bool); \
  template void matmul_backward_input_gelu<T>(T*, const T*, const T*, const T*, int, int, int, GemmContext&,       \
                                              cudaStream_t);                                                       \
  template void matmul_backward_weight<T>(float*, float*, const T*, const T*, int, int, int, GemmContext&,         \
                                          cudaStream_t);                                                           \
  template void matmul_backward<T>(T*, float*, float*, const T*, const T*, const T*, int, int, int, GemmContext&,  \
                                   cudaStream_t);
LLMRT_INSTANTIATE_MATMUL(float)
LLMRT_INSTANTIATE_MATMUL(bf16)
LLMRT_INSTANTIATE_MATMUL(f16)
#undef LLMRT_INSTANTIATE_MATMUL

}  // namespace llmrt::kernels::cuda
