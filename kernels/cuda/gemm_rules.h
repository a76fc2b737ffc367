// The host-side rules of the CUDA matmuls, free of CUDA so they are unit-tested on any machine:
// how a row-major linear layer maps onto a column-major GEMM, what identifies a cached cuBLASLt
// plan, when a fused epilogue may run, and how the bias-gradient kernel splits its rows.
// Included by matmul_cuda.cu (nvcc, C++17) and by host code: C++17 only, no CUDA headers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <tuple>

#if defined(__CUDACC__)
#define LLMRT_HOST_DEVICE __host__ __device__
#else
#define LLMRT_HOST_DEVICE
#endif

namespace llmrt::kernels::cuda {

// Storage types of GEMM operands (the kernels' T, plus fp32 for weight gradients).
enum class GemmDtype : std::uint8_t { kF32, kBf16, kF16 };
std::size_t dtype_bytes(GemmDtype t);
const char* dtype_name(GemmDtype t);

// What runs on the product before it is stored, in cuBLASLt's terms.
enum class GemmEpilogue : std::uint8_t {
  kNone,         // D = A B + beta D
  kBias,         // D = A B + bias; bias: (m), broadcast over D's columns
  kGeluAuxBias,  // aux = A B + bias (stored); D = gelu(aux)
  kDGelu,        // D = (A B) * gelu'(aux); aux read, not written
};
const char* epilogue_name(GemmEpilogue e);

// One GEMM in cuBLAS's column-major terms: D (m, n) = op(A) (m, k) @ op(B) (k, n).
// A is stored (k, m) with leading dimension lda when trans_a, else (m, k); B is stored (n, k)
// when trans_b, else (k, n); D is (m, n) with leading dimension ldd.
struct GemmShape {
  int m = 0, n = 0, k = 0;
  bool trans_a = false, trans_b = false;
  int lda = 0, ldb = 0, ldd = 0;
};

// Element offsets of op(A)(i, p), op(B)(p, j) and D(i, j): the one statement of the layout,
// shared by the fallback kernel and the host reference GEMM of the unit test.
LLMRT_HOST_DEVICE inline std::size_t gemm_a_offset(const GemmShape& g, int i, int p) {
  return g.trans_a ? std::size_t(p) + std::size_t(i) * g.lda : std::size_t(i) + std::size_t(p) * g.lda;
}
LLMRT_HOST_DEVICE inline std::size_t gemm_b_offset(const GemmShape& g, int p, int j) {
  return g.trans_b ? std::size_t(j) + std::size_t(p) * g.ldb : std::size_t(p) + std::size_t(j) * g.ldb;
}
LLMRT_HOST_DEVICE inline std::size_t gemm_d_offset(const GemmShape& g, int i, int j) {
  return std::size_t(i) + std::size_t(j) * g.ldd;
}

// The three GEMMs of a linear layer. Row-major (R, S) is column-major (S, R) with ld S, so:
// forward: out (N, OC) = inp (N, C) @ weight (OC, C)^T is out^T (OC, N) = weight^T @ inp^T,
//   A = weight (stored (C, OC) col-major, transposed), B = inp (C, N), D = out (OC, N).
inline GemmShape forward_gemm(int N, int C, int OC) { return {OC, N, C, true, false, C, C, OC}; }
// backward input: dinp (N, C) = dout (N, OC) @ weight (OC, C) is dinp^T (C, N) = weight^T @ dout^T,
//   A = weight (stored (C, OC) col-major), B = dout (OC, N), D = dinp (C, N).
inline GemmShape backward_input_gemm(int N, int C, int OC) { return {C, N, OC, false, false, C, OC, C}; }
// backward weight: dweight (OC, C) = dout^T @ inp is dweight^T (C, OC) = inp^T @ dout,
//   A = inp (stored (C, N) col-major), B = dout (stored (OC, N), transposed), D = dweight (C, OC).
inline GemmShape backward_weight_gemm(int N, int C, int OC) { return {C, OC, N, false, true, C, OC, C}; }

// The largest power of two, up to 256, dividing the address; 0 for nullptr (no operand).
// cuBLASLt assumes 256-byte alignment unless told, and weights here are often offsets into a
// flat parameter buffer, so every plan records what its pointers really have.
int alignment_of(std::uintptr_t address);
inline int alignment_of(const void* p) { return alignment_of(reinterpret_cast<std::uintptr_t>(p)); }

// What a cached plan is built for. Two calls with equal keys can share one cuBLASLt desc,
// layouts and algorithm: only the pointers (which the key sees through their alignments) differ.
struct GemmKey {
  GemmShape shape;
  GemmDtype ab_type = GemmDtype::kF32;  // A and B (the kernels' T)
  GemmDtype d_type = GemmDtype::kF32;   // C and D: T, or fp32 for weight gradients
  GemmEpilogue epilogue = GemmEpilogue::kNone;
  bool accumulate = false;  // beta = 1 (D +=) rather than 0 (D written)
  int aux_ld = 0;           // leading dimension of the GELU aux matrix; 0 without one
  int align_a = 0, align_b = 0, align_d = 0, align_bias = 0, align_aux = 0;  // bytes, alignment_of

  auto fields() const {
    return std::make_tuple(shape.m, shape.n, shape.k, shape.trans_a, shape.trans_b, shape.lda, shape.ldb,
                           shape.ldd, ab_type, d_type, epilogue, accumulate, aux_ld,
                           std::make_tuple(align_a, align_b, align_d, align_bias, align_aux));
  }
  bool operator<(const GemmKey& o) const { return fields() < o.fields(); }
  bool operator==(const GemmKey& o) const { return fields() == o.fields(); }
};

// Whether an epilogue reads a bias vector / reads or writes the GELU aux matrix.
bool epilogue_has_bias(GemmEpilogue e);
bool epilogue_has_aux(GemmEpilogue e);

// The device pointers of one call. a, b: op(A), op(B) as in GemmShape; d: C and D (one buffer,
// updated in place when the key accumulates); bias: (m) or nullptr; aux: the GELU matrix
// (written by kGeluAuxBias; only read by kDGelu, whose caller casts its const away) or nullptr.
struct GemmOperands {
  const void* a = nullptr;
  const void* b = nullptr;
  void* d = nullptr;
  const void* bias = nullptr;
  void* aux = nullptr;
};

// The key of a call: its shape, types and epilogue plus its pointers' alignments.
GemmKey make_gemm_key(const GemmShape& shape, GemmDtype ab_type, GemmDtype d_type, GemmEpilogue epilogue,
                      bool accumulate, int aux_ld, const GemmOperands& ops);

// One line naming everything in the key, for errors: "GEMM m=768 n=8192 k=3072 A(N, lda 768)
// B(T, ldb 3072) D(ldd 768) bf16 -> fp32, epilogue none, beta 1, alignments A 256 B 2 D 256".
std::string describe(const GemmKey& key);

// Whether a GELU epilogue may be tried at all for these operands; reason says why not (for the
// fallback counters and logs). Plain epilogues are always tried: the heuristic decides; bias
// epilogues when the bias is 16-byte aligned (run_gemm: the heuristic never sees its alignment).
// cuBLASLt requires the GELU aux leading dimension to be a multiple of 8 and at least D's row
// count; the aux pointer must be 16-byte aligned (our rule: the epilogue's vector stores).
struct EpilogueCheck {
  bool fusable = true;
  const char* reason = "";
};
EpilogueCheck check_fused_epilogue(GemmEpilogue epilogue, int rows_d, int aux_ld, std::uintptr_t aux_address);

// What a cublasLtMatmul status means for a plan the heuristic accepted. The heuristic judges a
// layout, not every pointer, so cublasLtMatmul may still refuse a fused epilogue (the
// reviewer's case: a bias or aux it cannot read). "Not supported" and "invalid value" (a
// configuration in conflict) on a fused epilogue are a refusal: nothing was enqueued, the plan
// remembers it and the caller runs the plain GEMM and the separate bias / GELU / dGELU kernels.
// Any status on a plain GEMM, and statuses about the run rather than the configuration on any
// (execution failed, allocation failed, internal error, not initialised, architecture
// mismatch...), are hard errors. Statuses are cublasStatus_t's values (kCublasStatus*, which
// gemm_plan.cpp checks against cublas_api.h) so the rule is tested without CUDA.
inline constexpr int kCublasStatusSuccess = 0;
inline constexpr int kCublasStatusInvalidValue = 7;
inline constexpr int kCublasStatusExecutionFailed = 13;
inline constexpr int kCublasStatusNotSupported = 15;
enum class MatmulOutcome : std::uint8_t { kRan, kEpilogueRefused, kFailed };
MatmulOutcome classify_matmul_status(GemmEpilogue epilogue, int cublas_status);

// The op table's batched GEMM (llmrt_gemm_args, row-major) as one column-major GEMM per batch
// element. Row-major C (m, n), ld ldc, is column-major C^T (n, m), ld ldc, and
// C^T = op(B)^T op(A)^T, so the column-major A is the row-major B (op'd when trans_b: row-major
// (n, k) is column-major (k, n)), the column-major B is the row-major A, and m and n swap.
// Run with GemmOperands{a = b's pointer, b = a's pointer, d = c's}.
inline GemmShape row_major_gemm(bool trans_a, bool trans_b, int m, int n, int k, int lda, int ldb, int ldc) {
  return {n, m, k, trans_b, trans_a, ldb, lda, ldc};
}

// The bias-gradient kernel (dbias += column sums of dout (N, OC)). A block is 32 x 8 threads:
// each thread of a row owns `vector_width` adjacent columns (one 16-byte load of T per row when
// OC and the dout pointer allow it, else one element), so a block spans 32 * vector_width
// columns; the 8 rows of threads walk the block's rows. The N rows are split over `row_splits`
// blocks in y (each adds its partial sums with one atomic per column), enough blocks to fill a
// GPU of `sm_count` multiprocessors about four times over, no split under kMinRowsPerSplit rows.
inline constexpr int kBiasGradThreadsX = 32;
inline constexpr int kBiasGradRowsPerThread = 8;  // blockDim.y: rows in flight per block
inline constexpr int kMinRowsPerSplit = 64;
// 16 / elem_bytes when OC is a multiple of it and dout is 16-byte aligned (every row then is), else 1.
int bias_grad_vector_width(std::size_t elem_bytes, int OC, std::uintptr_t dout_address);
struct BiasGradGrid {
  int vector_width = 1;
  int column_blocks = 0;
  int row_splits = 0;
  int rows_per_split = 0;  // the last split may hold fewer
};
BiasGradGrid bias_grad_grid(int N, int OC, int sm_count, int vector_width);

}  // namespace llmrt::kernels::cuda
