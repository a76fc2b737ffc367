// The op table's batched GEMM (ops_cuda.h: gemm_strided_batched; llmrt_gemm_args in
// plugin_ops.h): row-major C[i] = alpha op(A[i]) op(B[i]) + beta C[i], mapped onto one
// column-major cuBLASLt strided-batched matmul (gemm_rules.h: row_major_gemm), fp32 compute and
// scale at every storage type. A plain kernel covers what cuBLASLt has no algorithm for, and
// k = 0 (C = beta C). UNRUN here (no GPU in CI): tests/cuda/cuda_host_ops_test.cpp compares it
// with the CPU entry where a GPU is.
#include <algorithm>
#include <cstdint>
#include <string>
#include <type_traits>

#include "cuda/cublaslt_library.h"
#include "cuda/device_utils.cuh"
#include "cuda/gemm_dtype.cuh"
#include "cuda/gemm_plan.h"
#include "cuda/gemm_rules.h"
#include "cuda/ops_cuda.h"

namespace llmrt::kernels::cuda {
namespace {
using detail::from_float;
using detail::to_float;

cudaDataType_t lt_type(GemmDtype t) {
  switch (t) {
    case GemmDtype::kF32: return CUDA_R_32F;
    case GemmDtype::kBf16: return CUDA_R_16BF;
    case GemmDtype::kF16: return CUDA_R_16F;
  }
  return CUDA_R_32F;
}

// One call in gemm_rules' column-major terms: a and b are the column-major A and B (the
// row-major B and A), d is C; strides in elements between batch elements.
struct BatchedGemm {
  GemmShape g;
  int batch = 1;
  float alpha = 1.0f, beta = 0.0f;
  const void* a = nullptr;
  long long stride_a = 0;
  const void* b = nullptr;
  long long stride_b = 0;
  void* d = nullptr;
  long long stride_d = 0;
};

std::string describe(const BatchedGemm& x, GemmDtype ab, GemmDtype d) {
  const GemmShape& g = x.g;
  return "batched GEMM (column-major) m=" + std::to_string(g.m) + " n=" + std::to_string(g.n) +
         " k=" + std::to_string(g.k) + " A(" + (g.trans_a ? "T" : "N") + ", lda " + std::to_string(g.lda) +
         ", stride " + std::to_string(x.stride_a) + ") B(" + (g.trans_b ? "T" : "N") + ", ldb " +
         std::to_string(g.ldb) + ", stride " + std::to_string(x.stride_b) + ") D(ldd " + std::to_string(g.ldd) +
         ", stride " + std::to_string(x.stride_d) + ") batch " + std::to_string(x.batch) + " " + dtype_name(ab) +
         " -> " + dtype_name(d);
}

// One thread per element of D over every batch element (grid-stride); fp32 accumulation.
// Correct for any layout, slow. beta 0 never reads D (it may hold NaN).
template <typename T, typename D>
__global__ void gemm_batched_fallback_kernel(GemmShape g, int batch, float alpha, const T* a, long long stride_a,
                                             const T* b, long long stride_b, float beta, D* d, long long stride_d) {
  const std::size_t per = std::size_t(g.m) * std::size_t(g.n), total = per * std::size_t(batch);
  for (std::size_t idx = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; idx < total;
       idx += std::size_t(gridDim.x) * blockDim.x) {
    const long long e = static_cast<long long>(idx / per);
    const std::size_t r = idx % per;
    const int i = int(r % std::size_t(g.m)), j = int(r / std::size_t(g.m));
    float acc = 0.0f;
    for (int p = 0; p < g.k; p++) {
      acc += to_float(a[e * stride_a + static_cast<long long>(gemm_a_offset(g, i, p))]) *
             to_float(b[e * stride_b + static_cast<long long>(gemm_b_offset(g, p, j))]);
    }
    D* out = d + e * stride_d + static_cast<long long>(gemm_d_offset(g, i, j));
    float value = alpha * acc;
    if (beta != 0.0f) value += beta * to_float(*out);
    *out = from_float<D>(value);
  }
}

template <typename T, typename D>
void launch_fallback(const BatchedGemm& x, cudaStream_t stream) {
  constexpr int kBlock = 256;
  const std::size_t total = std::size_t(x.g.m) * std::size_t(x.g.n) * std::size_t(x.batch);
  gemm_batched_fallback_kernel<T, D><<<detail::elementwise_blocks(total, kBlock), kBlock, 0, stream>>>(
      x.g, x.batch, x.alpha, static_cast<const T*>(x.a), x.stride_a, static_cast<const T*>(x.b), x.stride_b, x.beta,
      static_cast<D*>(x.d), x.stride_d);
  LLMRT_CUDA_CHECK_LAUNCH();
}

// What every batch element's pointer is aligned to: the base's alignment, no more than the
// stride's in bytes (a stride of 0 moves nothing).
int batch_alignment(const void* base, long long stride, std::size_t elem_bytes, int batch) {
  const int base_align = alignment_of(base);
  if (batch <= 1 || stride == 0) return base_align;
  const int stride_align = alignment_of(static_cast<std::uintptr_t>(stride) * elem_bytes);
  return base_align < stride_align ? base_align : stride_align;
}

// Throws CudaError naming the call, its status and the GEMM unless st is SUCCESS.
void check_lt(cublasStatus_t st, const char* call, const BatchedGemm& x, GemmDtype ab, GemmDtype d, int line) {
  if (st == CUBLAS_STATUS_SUCCESS) return;
  const std::string what = std::string(call) + " for " + describe(x, ab, d);
  throw_cublas_status(what.c_str(), st, __FILE__, line);
}
#define LLMRT_LT_CHECK(call) check_lt((call), #call, x, ab, d, __LINE__)

// A (rows, cols, ld) column-major layout of `batch` matrices `stride` elements apart.
LtMatrixLayout batched_layout(cudaDataType_t type, int rows, int cols, int ld, int batch, long long stride,
                              const BatchedGemm& x, GemmDtype ab, GemmDtype d) {
  cublasLtMatrixLayout_t raw = nullptr;
  LLMRT_LT_CHECK(cublaslt().MatrixLayoutCreate(&raw, type, std::uint64_t(rows), std::uint64_t(cols), ld));
  LtMatrixLayout layout(raw);
  if (batch > 1) {
    const std::int32_t count = batch;
    const std::int64_t offset = stride;
    LLMRT_LT_CHECK(
        cublaslt().MatrixLayoutSetAttribute(raw, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count)));
    LLMRT_LT_CHECK(cublaslt().MatrixLayoutSetAttribute(raw, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &offset,
                                                       sizeof(offset)));
  }
  return layout;
}

// The call as one cuBLASLt matmul (desc, layouts and heuristic built here: not cached).
// Returns SUCCESS once it is enqueued, or the heuristic's answer, having run nothing, when it
// has no algorithm (not supported, or a layout it calls invalid, e.g. a broadcast stride 0 it
// does not take): the caller runs the plain kernel. Throws CudaError for any other failure.
template <typename T, typename D>
cublasStatus_t run_cublaslt(GemmContext& ctx, const BatchedGemm& x, cudaStream_t stream) {
  const GemmDtype ab = gemm_dtype<T>(), d = gemm_dtype<D>();
  const GemmShape& g = x.g;
  cublasLtMatmulDesc_t raw_desc = nullptr;
  // fp32 compute and scale at every T: no TF32 for fp32 operands (the CPU entry's arithmetic).
  LLMRT_LT_CHECK(cublaslt().MatmulDescCreate(&raw_desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  LtMatmulDesc desc(raw_desc);
  const std::int32_t trans_a = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, trans_b = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  LLMRT_LT_CHECK(cublaslt().MatmulDescSetAttribute(raw_desc, CUBLASLT_MATMUL_DESC_TRANSA, &trans_a, sizeof(trans_a)));
  LLMRT_LT_CHECK(cublaslt().MatmulDescSetAttribute(raw_desc, CUBLASLT_MATMUL_DESC_TRANSB, &trans_b, sizeof(trans_b)));
  // A stored (k, m) when transposed, else (m, k); B stored (n, k) when transposed, else (k, n).
  const LtMatrixLayout a_layout = batched_layout(lt_type(ab), g.trans_a ? g.k : g.m, g.trans_a ? g.m : g.k, g.lda,
                                                 x.batch, x.stride_a, x, ab, d);
  const LtMatrixLayout b_layout = batched_layout(lt_type(ab), g.trans_b ? g.n : g.k, g.trans_b ? g.k : g.n, g.ldb,
                                                 x.batch, x.stride_b, x, ab, d);
  const LtMatrixLayout d_layout = batched_layout(lt_type(d), g.m, g.n, g.ldd, x.batch, x.stride_d, x, ab, d);

  cublasLtMatmulPreference_t raw_pref = nullptr;
  LLMRT_LT_CHECK(cublaslt().MatmulPreferenceCreate(&raw_pref));
  LtMatmulPreference pref(raw_pref);
  const std::uint64_t ws = ctx.workspace_bytes();
  LLMRT_LT_CHECK(
      cublaslt().MatmulPreferenceSetAttribute(raw_pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
  // Every batch element's real alignment (cuBLASLt assumes 256 bytes unless told).
  const std::uint32_t align_a = std::max(1, batch_alignment(x.a, x.stride_a, dtype_bytes(ab), x.batch)),
                      align_b = std::max(1, batch_alignment(x.b, x.stride_b, dtype_bytes(ab), x.batch)),
                      align_d = std::max(1, batch_alignment(x.d, x.stride_d, dtype_bytes(d), x.batch));
  LLMRT_LT_CHECK(cublaslt().MatmulPreferenceSetAttribute(raw_pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
                                                         &align_a, sizeof(align_a)));
  LLMRT_LT_CHECK(cublaslt().MatmulPreferenceSetAttribute(raw_pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                                                         &align_b, sizeof(align_b)));
  LLMRT_LT_CHECK(cublaslt().MatmulPreferenceSetAttribute(raw_pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
                                                         &align_d, sizeof(align_d)));
  LLMRT_LT_CHECK(cublaslt().MatmulPreferenceSetAttribute(raw_pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES,
                                                         &align_d, sizeof(align_d)));
  cublasLtMatmulHeuristicResult_t heuristic{};
  int returned = 0;
  const cublasStatus_t found = cublaslt().MatmulAlgoGetHeuristic(
      ctx.handle(), raw_desc, a_layout.get(), b_layout.get(), d_layout.get(), d_layout.get(), raw_pref, 1, &heuristic,
      &returned);
  if (found == CUBLAS_STATUS_NOT_SUPPORTED || found == CUBLAS_STATUS_INVALID_VALUE) return found;
  LLMRT_LT_CHECK(found);
  if (returned == 0 || heuristic.state != CUBLAS_STATUS_SUCCESS) return CUBLAS_STATUS_NOT_SUPPORTED;
  // C and D are one buffer with one layout (in place); alpha and beta are host floats (the
  // default pointer mode), read before cublasLtMatmul returns.
  LLMRT_LT_CHECK(cublaslt().Matmul(ctx.handle(), raw_desc, &x.alpha, x.a, a_layout.get(), x.b, b_layout.get(),
                                   &x.beta, x.d, d_layout.get(), x.d, d_layout.get(), &heuristic.algo,
                                   ctx.workspace(), ctx.workspace_bytes(), stream));
  return CUBLAS_STATUS_SUCCESS;
}
#undef LLMRT_LT_CHECK

template <typename T>
const T* advance(const T* p, long long elements) {
  return p == nullptr ? p : p + elements;
}

}  // namespace

template <typename T, typename D>
void gemm_strided_batched(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const T* a, int lda,
                          long long stride_a, const T* b, int ldb, long long stride_b, float beta, D* c, int ldc,
                          long long stride_c, int batch, GemmContext& gemm, cudaStream_t stream) {
  if (m == 0 || n == 0) return;
  if (batch < 1) batch = 1;  // llmrt_gemm_args: batch 0 is 1
  // Batch elements whose C overlap (stride_c 0 or under one matrix): the CPU entry updates them
  // one after another, so they run one after another here (stream order), never concurrently.
  const long long c_extent = static_cast<long long>(m - 1) * ldc + n;
  if (batch > 1 && stride_c < c_extent) {
    for (int e = 0; e < batch; e++) {
      gemm_strided_batched<T, D>(trans_a, trans_b, m, n, k, alpha, advance(a, e * stride_a), lda, 0,
                                 advance(b, e * stride_b), ldb, 0, beta, c + e * stride_c, ldc, 0, 1, gemm, stream);
    }
    return;
  }
  BatchedGemm x;
  x.g = row_major_gemm(trans_a, trans_b, m, n, k, lda, ldb, ldc);
  x.batch = batch;
  x.alpha = alpha, x.beta = beta;
  x.a = b, x.stride_a = stride_b;  // column-major A is the row-major B (gemm_rules.h: row_major_gemm)
  x.b = a, x.stride_b = stride_a;
  x.d = c, x.stride_d = stride_c;
  if (k > 0) {  // k 0 is C = beta C: the plain kernel, which reads neither A nor B
    const cublasStatus_t heuristic = run_cublaslt<T, D>(gemm, x, stream);
    if (heuristic == CUBLAS_STATUS_SUCCESS) return;
    if (!gemm.fallback_allowed()) {
      throw CudaError("cuBLASLt has no algorithm for " + describe(x, gemm_dtype<T>(), gemm_dtype<D>()) +
                      " (heuristic: " + cublaslt().GetStatusName(heuristic) +
                      ") and this GemmContext allows no fallback kernel");
    }
    gemm.note_fallback();
  }
  launch_fallback<T, D>(x, stream);
}

#define LLMRT_INSTANTIATE_GEMM_BATCHED(T, D)                                                                        \
  template void gemm_strided_batched<T, D>(bool, bool, int, int, int, float, const T*, int, long long, const T*, int, \
                                           long long, float, D*, int, long long, int, GemmContext&, cudaStream_t);
LLMRT_INSTANTIATE_GEMM_BATCHED(float, float)
LLMRT_INSTANTIATE_GEMM_BATCHED(bf16, bf16)
LLMRT_INSTANTIATE_GEMM_BATCHED(bf16, float)
LLMRT_INSTANTIATE_GEMM_BATCHED(f16, f16)
LLMRT_INSTANTIATE_GEMM_BATCHED(f16, float)
#undef LLMRT_INSTANTIATE_GEMM_BATCHED

}  // namespace llmrt::kernels::cuda
