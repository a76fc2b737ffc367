// cuBLASLt plans (gemm_plan.h): a desc, layouts and algorithm built once per key, run per call.
#include "cuda/gemm_plan.h"

#include <algorithm>
#include <cstdint>
#include <string>

#include "cuda/cublaslt_library.h"
#include "cuda/cuda_common.h"

namespace llmrt::kernels::cuda {

void LtDeleter::operator()(cublasLtMatmulDescOpaque_t* p) const { cublaslt().MatmulDescDestroy(p); }
void LtDeleter::operator()(cublasLtMatrixLayoutOpaque_t* p) const { cublaslt().MatrixLayoutDestroy(p); }
void LtDeleter::operator()(cublasLtMatmulPreferenceOpaque_t* p) const { cublaslt().MatmulPreferenceDestroy(p); }

namespace {

cudaDataType_t cuda_type(GemmDtype t) {
  switch (t) {
    case GemmDtype::kF32: return CUDA_R_32F;
    case GemmDtype::kBf16: return CUDA_R_16BF;
    case GemmDtype::kF16: return CUDA_R_16F;
  }
  return CUDA_R_32F;
}

cublasLtEpilogue_t lt_epilogue(GemmEpilogue e) {
  switch (e) {
    case GemmEpilogue::kNone: return CUBLASLT_EPILOGUE_DEFAULT;
    case GemmEpilogue::kBias: return CUBLASLT_EPILOGUE_BIAS;
    case GemmEpilogue::kGeluAuxBias: return CUBLASLT_EPILOGUE_GELU_AUX_BIAS;
    case GemmEpilogue::kDGelu: return CUBLASLT_EPILOGUE_DGELU;
  }
  return CUBLASLT_EPILOGUE_DEFAULT;
}

}  // namespace

#define LLMRT_PLAN_CHECK(call) check((call), #call, __LINE__)

void GemmPlan::check(cublasStatus_t st, const char* call, int line) const {
  if (st == CUBLAS_STATUS_SUCCESS) return;
  const std::string what = std::string(call) + " for " + describe(key_);
  throw_cublas_status(what.c_str(), st, __FILE__, line);
}

GemmPlan::GemmPlan(cublasLtHandle_t handle, const GemmKey& key, const GemmOperands& ops,
                   std::size_t workspace_bytes)
    : key_(key) {
  const GemmShape& g = key.shape;
  const cudaDataType_t ab = cuda_type(key.ab_type), d = cuda_type(key.d_type);
  cublasLtMatmulDesc_t desc = nullptr;
  // fp32 compute and scale at every T: no TF32 for fp32 operands (it must match the CPU path).
  LLMRT_PLAN_CHECK(cublaslt().MatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  desc_.reset(desc);
  const std::int32_t trans_a = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, trans_b = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const std::uint32_t epilogue = lt_epilogue(key.epilogue);
  LLMRT_PLAN_CHECK(cublaslt().MatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &trans_a, sizeof(trans_a)));
  LLMRT_PLAN_CHECK(cublaslt().MatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &trans_b, sizeof(trans_b)));
  LLMRT_PLAN_CHECK(cublaslt().MatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue)));
  // Bias and aux types default to D's type, which is T wherever they are used.
  if (epilogue_has_aux(key.epilogue)) {
    const std::int64_t aux_ld = key.aux_ld;
    LLMRT_PLAN_CHECK(
        cublaslt().MatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, &aux_ld, sizeof(aux_ld)));
  }
  set_pointers(ops);  // the heuristic reads the bias/aux pointers' alignment from the desc

  cublasLtMatrixLayout_t layout = nullptr;
  LLMRT_PLAN_CHECK(cublaslt().MatrixLayoutCreate(&layout, ab, g.trans_a ? g.k : g.m, g.trans_a ? g.m : g.k, g.lda));
  a_.reset(layout);
  LLMRT_PLAN_CHECK(cublaslt().MatrixLayoutCreate(&layout, ab, g.trans_b ? g.n : g.k, g.trans_b ? g.k : g.n, g.ldb));
  b_.reset(layout);
  LLMRT_PLAN_CHECK(cublaslt().MatrixLayoutCreate(&layout, d, g.m, g.n, g.ldd));
  d_.reset(layout);
  find_algo(handle, workspace_bytes);
}

// One algorithm from the heuristic, within the workspace and the pointers' real alignments.
void GemmPlan::find_algo(cublasLtHandle_t handle, std::size_t workspace_bytes) {
  cublasLtMatmulPreference_t pref = nullptr;
  LLMRT_PLAN_CHECK(cublaslt().MatmulPreferenceCreate(&pref));
  LtMatmulPreference owned(pref);
  const std::uint64_t ws = workspace_bytes;
  LLMRT_PLAN_CHECK(
      cublaslt().MatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
  const std::uint32_t align_a = std::max(1, key_.align_a), align_b = std::max(1, key_.align_b),
                      align_d = std::max(1, key_.align_d);
  LLMRT_PLAN_CHECK(cublaslt().MatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &align_a,
                                                           sizeof(align_a)));
  LLMRT_PLAN_CHECK(cublaslt().MatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &align_b,
                                                           sizeof(align_b)));
  LLMRT_PLAN_CHECK(cublaslt().MatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &align_d,
                                                           sizeof(align_d)));
  LLMRT_PLAN_CHECK(cublaslt().MatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &align_d,
                                                           sizeof(align_d)));
  int returned = 0;
  heuristic_status_ = cublaslt().MatmulAlgoGetHeuristic(handle, desc_.get(), a_.get(), b_.get(), d_.get(), d_.get(),
                                                        pref, 1, &heuristic_, &returned);
  has_algo_ = heuristic_status_ == CUBLAS_STATUS_SUCCESS && returned > 0 && heuristic_.state == CUBLAS_STATUS_SUCCESS;
  if (has_algo_) return;
  if (heuristic_status_ == CUBLAS_STATUS_SUCCESS) heuristic_status_ = CUBLAS_STATUS_NOT_SUPPORTED;
  // "Not supported" is a miss: the caller falls back. So is any refusal of a fused epilogue
  // (the unfused path, which has none, runs instead and reports real errors). Anything else on
  // a plain GEMM is a bug in the key.
  if (heuristic_status_ != CUBLAS_STATUS_NOT_SUPPORTED && key_.epilogue == GemmEpilogue::kNone) {
    check(heuristic_status_, "cublasLtMatmulAlgoGetHeuristic", __LINE__);
  }
}

void GemmPlan::set_pointers(const GemmOperands& ops) {
  if (epilogue_has_bias(key_.epilogue)) {
    const void* bias = ops.bias;
    LLMRT_PLAN_CHECK(
        cublaslt().MatmulDescSetAttribute(desc_.get(), CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)));
  }
  if (epilogue_has_aux(key_.epilogue)) {
    void* aux = ops.aux;
    LLMRT_PLAN_CHECK(
        cublaslt().MatmulDescSetAttribute(desc_.get(), CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, &aux, sizeof(aux)));
  }
}

// gemm_rules.h states the statuses by value so its rule is host-testable: they must be cuBLAS's.
static_assert(kCublasStatusSuccess == CUBLAS_STATUS_SUCCESS);
static_assert(kCublasStatusInvalidValue == CUBLAS_STATUS_INVALID_VALUE);
static_assert(kCublasStatusExecutionFailed == CUBLAS_STATUS_EXECUTION_FAILED);
static_assert(kCublasStatusNotSupported == CUBLAS_STATUS_NOT_SUPPORTED);

bool GemmPlan::run(cublasLtHandle_t handle, const GemmOperands& ops, void* workspace, std::size_t workspace_bytes,
                   cudaStream_t stream) {
  set_pointers(ops);
  const float alpha = 1.0f, beta = key_.accumulate ? 1.0f : 0.0f;
  // C and D are one buffer with one layout: cuBLASLt supports the in-place update.
  const cublasStatus_t st = cublaslt().Matmul(handle, desc_.get(), &alpha, ops.a, a_.get(), ops.b, b_.get(), &beta,
                                              ops.d, d_.get(), ops.d, d_.get(), &heuristic_.algo, workspace,
                                              workspace_bytes, stream);
  switch (classify_matmul_status(key_.epilogue, int(st))) {
    case MatmulOutcome::kRan: return true;
    case MatmulOutcome::kEpilogueRefused:
      // Remembered in the cached plan: this key goes unfused from now on, never asked again.
      has_algo_ = false;
      refused_ = true;
      heuristic_status_ = st;
      return false;
    case MatmulOutcome::kFailed: break;
  }
  check(st, "cublasLtMatmul", __LINE__);
  return false;  // not reached: check throws for every status but SUCCESS
}

GemmPlan& GemmPlanCache::find(cublasLtHandle_t handle, const GemmKey& key, const GemmOperands& ops,
                              std::size_t workspace_bytes) {
  if (auto it = plans_.find(key); it != plans_.end()) {
    hits_++;
    return *it->second;
  }
  auto plan = std::make_unique<GemmPlan>(handle, key, ops, workspace_bytes);  // throws: nothing cached
  misses_++;
  return *plans_.emplace(key, std::move(plan)).first->second;
}

#undef LLMRT_PLAN_CHECK

}  // namespace llmrt::kernels::cuda
