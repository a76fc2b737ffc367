// Out-of-line parts of the RAII owners and the error path; plain C++ against the CUDA runtime.
#include "cuda/cuda_common.h"

#include "cuda/cublaslt_library.h"
#include "cuda/gemm_plan.h"

#include <string>

namespace llmrt::kernels::cuda {

void throw_cuda_error(const char* what, const char* detail, const char* file, int line) {
  throw CudaError(std::string(file) + ":" + std::to_string(line) + ": " + what + " failed: " + detail);
}

void throw_cuda_status(const char* what, cudaError_t err, const char* file, int line) {
  const std::string detail = std::string(cudaGetErrorName(err)) + " (" + std::to_string(int(err)) + "): " +
                             cudaGetErrorString(err);
  throw_cuda_error(what, detail.c_str(), file, line);
}

void throw_cublas_status(const char* what, cublasStatus_t st, const char* file, int line) {
  const std::string detail = std::string(cublaslt().GetStatusName(st)) + " (" + std::to_string(int(st)) + "): " +
                             cublaslt().GetStatusString(st);
  throw_cuda_error(what, detail.c_str(), file, line);
}

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error so later queries start clean
    return 0;
  }
  return n;
}

CudaStream::CudaStream() {
  LLMRT_CUDA_CHECK(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking));
}

CudaStream::~CudaStream() {
  if (s_) cudaStreamDestroy(s_);
}

GemmContext::GemmContext(std::size_t workspace_bytes)
    : workspace_(workspace_bytes), plans_(std::make_unique<GemmPlanCache>()) {
  int device = 0;
  LLMRT_CUDA_CHECK(cudaGetDevice(&device));
  LLMRT_CUDA_CHECK(cudaDeviceGetAttribute(&sm_count_, cudaDevAttrMultiProcessorCount, device));
  LLMRT_CUBLAS_CHECK(cublaslt().Create(&handle_));
}

GemmContext::~GemmContext() {
  plans_.reset();  // the plans' descs and layouts go before the handle they were made under
  if (handle_) cublaslt().Destroy(handle_);
}

std::size_t GemmContext::plan_count() const { return plans_->size(); }
std::size_t GemmContext::plan_hits() const { return plans_->hits(); }
std::size_t GemmContext::plan_misses() const { return plans_->misses(); }

}  // namespace llmrt::kernels::cuda
