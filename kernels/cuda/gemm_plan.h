// Cached cuBLASLt plans: for each GemmKey the whole matmul description (desc, the A/B/C-D
// layouts, the heuristic's algorithm) is built once and kept; a call sets only its pointers.
// Building one costs tens of microseconds (the heuristic) plus five allocations, against a few
// microseconds for the GEMM itself at small shapes; ~147 GEMMs per GPT-2 step share a few keys.
//
// NOT thread-safe: a call writes the bias and aux pointers into the cached desc before it
// enqueues the matmul. A cache belongs to one GemmContext, which belongs to one stream and is
// used from one host thread at a time.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <map>
#include <memory>

#include "cuda/gemm_rules.h"

namespace llmrt::kernels::cuda {

struct LtDeleter {
  void operator()(cublasLtMatmulDescOpaque_t* p) const;
  void operator()(cublasLtMatrixLayoutOpaque_t* p) const;
  void operator()(cublasLtMatmulPreferenceOpaque_t* p) const;
};
using LtMatmulDesc = std::unique_ptr<cublasLtMatmulDescOpaque_t, LtDeleter>;
using LtMatrixLayout = std::unique_ptr<cublasLtMatrixLayoutOpaque_t, LtDeleter>;
using LtMatmulPreference = std::unique_ptr<cublasLtMatmulPreferenceOpaque_t, LtDeleter>;

// One cached cuBLASLt matmul. has_algo() is false when the heuristic found nothing for the key
// (the miss is cached too, so a refused layout is asked about once).
class GemmPlan {
 public:
  // Builds the desc and layouts for `key` and asks the heuristic for one algorithm within
  // `workspace_bytes`. Throws CudaError (with describe(key)) when a cuBLASLt call fails, or the
  // heuristic fails with anything but "not supported" on a plain GEMM (a fused epilogue's
  // refusal, whatever its status, is a miss: the unfused path then reports real errors).
  GemmPlan(cublasLtHandle_t handle, const GemmKey& key, const GemmOperands& ops, std::size_t workspace_bytes);
  // False also once cublasLtMatmul has refused the plan's fused epilogue (refused()).
  bool has_algo() const { return has_algo_; }
  // What the heuristic answered (SUCCESS with has_algo(), else why not), for messages.
  cublasStatus_t heuristic_status() const { return heuristic_status_; }
  // Whether cublasLtMatmul refused the fused epilogue the heuristic had accepted (remembered:
  // later calls of this key go unfused at once instead of asking again).
  bool refused() const { return refused_; }
  // Sets the call's bias/aux pointers on the desc, then enqueues D = A B (+ beta D) (+ epilogue).
  // Returns false, having enqueued nothing, when cublasLtMatmul refuses a fused epilogue
  // (classify_matmul_status); the plan then has no algorithm and the caller runs the unfused
  // path. Throws CudaError (status, describe(key)) for every other failure. Not const: the desc
  // is shared state (see the file comment).
  bool run(cublasLtHandle_t handle, const GemmOperands& ops, void* workspace, std::size_t workspace_bytes,
           cudaStream_t stream);

 private:
  void set_pointers(const GemmOperands& ops);
  // Throws CudaError naming the call, the status and describe(key_) unless st is SUCCESS.
  void check(cublasStatus_t st, const char* call, int line) const;
  void find_algo(cublasLtHandle_t handle, std::size_t workspace_bytes);

  GemmKey key_;
  LtMatmulDesc desc_;
  LtMatrixLayout a_, b_, d_;  // C and D share one layout (same buffer, same type)
  cublasLtMatmulHeuristicResult_t heuristic_{};
  bool has_algo_ = false;
  bool refused_ = false;
  cublasStatus_t heuristic_status_ = CUBLAS_STATUS_NOT_SUPPORTED;
};

// The plans of one GemmContext, with counters the tests read.
class GemmPlanCache {
 public:
  // The plan for `key`, built on first use.
  GemmPlan& find(cublasLtHandle_t handle, const GemmKey& key, const GemmOperands& ops, std::size_t workspace_bytes);
  std::size_t size() const { return plans_.size(); }
  std::size_t hits() const { return hits_; }
  std::size_t misses() const { return misses_; }  // plans built (heuristic queries)

 private:
  std::map<GemmKey, std::unique_ptr<GemmPlan>> plans_;
  std::size_t hits_ = 0, misses_ = 0;
};

}  // namespace llmrt::kernels::cuda
