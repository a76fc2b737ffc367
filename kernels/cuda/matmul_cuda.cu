// Matmuls of the linear layers through cuBLASLt: bf16 operands, fp32 compute, bias fused as an
// epilogue in forward, fp32 weight gradients accumulated in place (beta = 1). A plain kernel
// stands in when cuBLASLt has no algorithm for a layout (odd test shapes).
#include <cstdint>
#include <memory>

#include "cuda/cublaslt_library.h"
#include "cuda/device_utils.cuh"
#include "cuda/kernels_cuda.h"

namespace llmrt::kernels::cuda {
namespace {
using detail::to_float;

// One GEMM in cuBLAS's column-major terms: D (m, n) = op(A) (m, k) @ op(B) (k, n) + beta * D
// (+ bias (m) broadcast over columns). A is stored (k, m) when trans_a, else (m, k); B likewise.
struct Gemm {
  void* d;
  cudaDataType_t d_type;  // CUDA_R_16BF or CUDA_R_32F
  int ldd;
  const bf16* a;
  bool trans_a;
  int lda;
  const bf16* b;
  bool trans_b;
  int ldb;
  int m, n, k;
  float beta;        // 0 overwrites D, 1 accumulates into it
  const bf16* bias;  // (m) or nullptr
};

struct LtDeleter {
  void operator()(cublasLtMatmulDescOpaque_t* p) const { cublaslt().MatmulDescDestroy(p); }
  void operator()(cublasLtMatrixLayoutOpaque_t* p) const { cublaslt().MatrixLayoutDestroy(p); }
  void operator()(cublasLtMatmulPreferenceOpaque_t* p) const { cublaslt().MatmulPreferenceDestroy(p); }
};
using MatmulDesc = std::unique_ptr<cublasLtMatmulDescOpaque_t, LtDeleter>;
using MatrixLayout = std::unique_ptr<cublasLtMatrixLayoutOpaque_t, LtDeleter>;
using MatmulPreference = std::unique_ptr<cublasLtMatmulPreferenceOpaque_t, LtDeleter>;

MatrixLayout make_layout(cudaDataType_t type, int rows, int cols, int ld) {
  cublasLtMatrixLayout_t layout = nullptr;
  LLMRT_CUBLAS_CHECK(cublaslt().MatrixLayoutCreate(&layout, type, rows, cols, ld));
  return MatrixLayout(layout);
}

// The largest power of two (up to 256) dividing the address: cuBLASLt assumes 256-byte
// alignment unless told, and operands here are often offsets into a flat parameter buffer.
long long alignment_of(const void* p) {
  const auto addr = reinterpret_cast<std::uintptr_t>(p);
  long long align = 256;
  while (align > 1 && addr % align != 0) align >>= 1;
  return align;
}

template <typename T>
void set_attr(cublasLtMatmulDesc_t desc, cublasLtMatmulDescAttributes_t attr, const T& value) {
  LLMRT_CUBLAS_CHECK(cublaslt().MatmulDescSetAttribute(desc, attr, &value, sizeof(value)));
}

MatmulDesc make_desc(const Gemm& g) {
  cublasLtMatmulDesc_t desc = nullptr;
  LLMRT_CUBLAS_CHECK(cublaslt().MatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  MatmulDesc owned(desc);
  set_attr(desc, CUBLASLT_MATMUL_DESC_TRANSA, g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N);
  set_attr(desc, CUBLASLT_MATMUL_DESC_TRANSB, g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N);
  if (g.bias) {
    set_attr(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, CUBLASLT_EPILOGUE_BIAS);
    set_attr(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, static_cast<const void*>(g.bias));
    set_attr(desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, CUDA_R_16BF);
  }
  return owned;
}

// Asks the heuristic once per shape; a result whose state is not SUCCESS records "none".
const cublasLtMatmulHeuristicResult_t& find_algo(GemmContext& ctx, const Gemm& g,
                                                 cublasLtMatmulDesc_t desc, cublasLtMatrixLayout_t la,
                                                 cublasLtMatrixLayout_t lb, cublasLtMatrixLayout_t ld) {
  const GemmContext::AlgoKey key{g.m, g.n, g.k, g.lda, g.ldb, g.ldd,
                                 (g.trans_a ? 1 : 0) | (g.trans_b ? 2 : 0) | (g.bias ? 4 : 0) | (g.beta != 0.0f ? 8 : 0),
                                 g.d_type, alignment_of(g.a), alignment_of(g.b), alignment_of(g.d),
                                 g.bias ? alignment_of(g.bias) : 0};
  auto [it, inserted] = ctx.algo_cache().try_emplace(key);
  if (!inserted) return it->second;
  cublasLtMatmulPreference_t pref = nullptr;
  LLMRT_CUBLAS_CHECK(cublaslt().MatmulPreferenceCreate(&pref));
  MatmulPreference owned(pref);
  const std::size_t ws = ctx.workspace_bytes();
  LLMRT_CUBLAS_CHECK(cublaslt().MatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
  const std::uint32_t align_a = std::uint32_t(key[8]), align_b = std::uint32_t(key[9]), align_d = std::uint32_t(key[10]);
  LLMRT_CUBLAS_CHECK(cublaslt().MatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &align_a, sizeof(align_a)));
  LLMRT_CUBLAS_CHECK(cublaslt().MatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &align_b, sizeof(align_b)));
  LLMRT_CUBLAS_CHECK(cublaslt().MatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &align_d, sizeof(align_d)));
  LLMRT_CUBLAS_CHECK(cublaslt().MatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &align_d, sizeof(align_d)));
  int returned = 0;
  const cublasStatus_t st = cublaslt().MatmulAlgoGetHeuristic(ctx.handle(), desc, la, lb, ld, ld, pref, 1,
                                                           &it->second, &returned);
  if (st != CUBLAS_STATUS_SUCCESS || returned == 0) it->second.state = CUBLAS_STATUS_NOT_SUPPORTED;
  return it->second;
}

// The fallback: one thread per output element, fp32 accumulation. Correct for any layout, slow.
template <typename D>
__global__ void gemm_fallback_kernel(Gemm g) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= g.m) return;
  for (int j = blockIdx.y; j < g.n; j += gridDim.y) {
    float acc = 0.0f;
    for (int p = 0; p < g.k; p++) {
      const float av = to_float(g.trans_a ? g.a[p + std::size_t(i) * g.lda] : g.a[i + std::size_t(p) * g.lda]);
      const float bv = to_float(g.trans_b ? g.b[j + std::size_t(p) * g.ldb] : g.b[p + std::size_t(j) * g.ldb]);
      acc += av * bv;
    }
    if (g.bias) acc += to_float(g.bias[i]);
    D* out = static_cast<D*>(g.d) + i + std::size_t(j) * g.ldd;
    if (g.beta != 0.0f) acc += g.beta * to_float(*out);
    *out = detail::from_float<D>(acc);
  }
}

void run_gemm(GemmContext& ctx, const Gemm& g, cudaStream_t stream) {
  MatmulDesc desc = make_desc(g);
  MatrixLayout la = g.trans_a ? make_layout(CUDA_R_16BF, g.k, g.m, g.lda) : make_layout(CUDA_R_16BF, g.m, g.k, g.lda);
  MatrixLayout lb = g.trans_b ? make_layout(CUDA_R_16BF, g.n, g.k, g.ldb) : make_layout(CUDA_R_16BF, g.k, g.n, g.ldb);
  MatrixLayout ld = make_layout(g.d_type, g.m, g.n, g.ldd);
  const auto& algo = find_algo(ctx, g, desc.get(), la.get(), lb.get(), ld.get());
  if (algo.state == CUBLAS_STATUS_SUCCESS) {
    const float alpha = 1.0f;
    // C and D are the same buffer with the same layout: cuBLASLt supports the in-place update.
    LLMRT_CUBLAS_CHECK(cublaslt().Matmul(ctx.handle(), desc.get(), &alpha, g.a, la.get(), g.b, lb.get(), &g.beta,
                                      g.d, ld.get(), g.d, ld.get(), &algo.algo, ctx.workspace(),
                                      ctx.workspace_bytes(), stream));
    return;
  }
  ctx.note_fallback();
  const dim3 grid(detail::ceil_div(g.m, 128), unsigned(g.n < 65535 ? g.n : 65535));
  if (g.d_type == CUDA_R_32F) {
    gemm_fallback_kernel<float><<<grid, 128, 0, stream>>>(g);
  } else {
    gemm_fallback_kernel<bf16><<<grid, 128, 0, stream>>>(g);
  }
  LLMRT_CUDA_CHECK_LAUNCH();
}

// dbias[o] += sum over rows of dout[:, o]. A block of 32 x 8 threads owns 32 adjacent columns,
// so each row's reads are coalesced; the 8 row-strided partial sums meet in shared memory.
__global__ void bias_grad_kernel(float* dbias, const bf16* dout, int N, int OC) {
  __shared__ float partial[8][33];
  const int o = blockIdx.x * 32 + threadIdx.x;
  float acc = 0.0f;
  if (o < OC) {
    for (int i = threadIdx.y; i < N; i += 8) acc += to_float(dout[std::size_t(i) * OC + o]);
  }
  partial[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && o < OC) {
    for (int r = 1; r < 8; r++) acc += partial[r][threadIdx.x];
    dbias[o] += acc;
  }
}

}  // namespace

// Row-major (N, OC) out is column-major (OC, N): out^T = weight (stored (C, OC) col-major, so
// transposed) @ inp^T (stored (C, N) col-major).
void matmul_forward(bf16* out, const bf16* inp, const bf16* weight, const bf16* bias, int N,
                    int C, int OC, GemmContext& gemm, cudaStream_t stream) {
  run_gemm(gemm, Gemm{out, CUDA_R_16BF, OC, weight, true, C, inp, false, C, OC, N, C, 0.0f, bias}, stream);
}

// dinp^T (C, N) += weight^T (stored (C, OC) col-major) @ dout^T (stored (OC, N) col-major).
void matmul_backward_input(bf16* dinp, const bf16* dout, const bf16* weight, int N, int C,
                           int OC, GemmContext& gemm, cudaStream_t stream) {
  run_gemm(gemm, Gemm{dinp, CUDA_R_16BF, C, weight, false, C, dout, false, OC, C, N, OC, 1.0f, nullptr}, stream);
}

// dweight^T (C, OC) += inp^T (stored (C, N) col-major) @ dout (stored (OC, N) col-major, so
// transposed), written straight into the fp32 gradient.
void matmul_backward_weight(float* dweight, float* dbias, const bf16* dout, const bf16* inp,
                            int N, int C, int OC, GemmContext& gemm, cudaStream_t stream) {
  run_gemm(gemm, Gemm{dweight, CUDA_R_32F, C, inp, false, C, dout, true, OC, C, OC, N, 1.0f, nullptr}, stream);
  if (dbias) {
    bias_grad_kernel<<<detail::ceil_div(OC, 32), dim3(32, 8), 0, stream>>>(dbias, dout, N, OC);
    LLMRT_CUDA_CHECK_LAUNCH();
  }
}

void matmul_backward(bf16* dinp, float* dweight, float* dbias, const bf16* dout, const bf16* inp,
                     const bf16* weight, int N, int C, int OC, GemmContext& gemm,
                     cudaStream_t stream) {
  matmul_backward_input(dinp, dout, weight, N, C, OC, gemm, stream);
  matmul_backward_weight(dweight, dbias, dout, inp, N, C, OC, gemm, stream);
}

}  // namespace llmrt::kernels::cuda
