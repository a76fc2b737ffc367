// RAII owners for the CUDA objects the kernels need (device buffers, streams, the cuBLASLt
// handle and its workspace) and the error check every CUDA call goes through.
#pragma once

#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

namespace llmrt::kernels::cuda {

using bf16 = __nv_bfloat16;
using f16 = __half;

// A failed CUDA or cuBLASLt call. Kernels are library code and must not exit(); the caller that
// owns the process decides. The message carries the call site and the runtime's own text.
class CudaError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

[[noreturn]] void throw_cuda_error(const char* what, const char* detail, const char* file, int line);

// Both name the code as the runtime spells it, its number and its description, e.g.
// "cudaErrorMemoryAllocation (2): out of memory" or "CUBLAS_STATUS_NOT_SUPPORTED (15): ...".
[[noreturn]] void throw_cuda_status(const char* what, cudaError_t err, const char* file, int line);
[[noreturn]] void throw_cublas_status(const char* what, cublasStatus_t st, const char* file, int line);

inline void check_cuda(cudaError_t err, const char* what, const char* file, int line) {
  if (err != cudaSuccess) throw_cuda_status(what, err, file, line);
}
inline void check_cublas(cublasStatus_t st, const char* what, const char* file, int line) {
  if (st != CUBLAS_STATUS_SUCCESS) throw_cublas_status(what, st, file, line);
}

#define LLMRT_CUDA_CHECK(call) ::llmrt::kernels::cuda::check_cuda((call), #call, __FILE__, __LINE__)
#define LLMRT_CUBLAS_CHECK(call) ::llmrt::kernels::cuda::check_cublas((call), #call, __FILE__, __LINE__)

// Number of usable CUDA devices; 0 (never an error) when there is no driver or no device, so
// tests and tools can skip cleanly on CPU-only machines.
int cuda_device_count();

// An owned, typed device allocation of n elements. Move-only.
template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t n) : n_(n) {
    if (n > 0) LLMRT_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&ptr_), n * sizeof(T)));
  }
  ~DeviceBuffer() { reset(); }
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      ptr_ = std::exchange(o.ptr_, nullptr);
      n_ = std::exchange(o.n_, 0);
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  T* get() const { return ptr_; }
  std::size_t size() const { return n_; }
  std::size_t bytes() const { return n_ * sizeof(T); }

  // Synchronous copies, for setup and tests; the training step uses the stream-ordered kernels.
  void upload(const T* host, std::size_t n) {
    LLMRT_CUDA_CHECK(cudaMemcpy(ptr_, host, n * sizeof(T), cudaMemcpyHostToDevice));
  }
  void download(T* host, std::size_t n) const {
    LLMRT_CUDA_CHECK(cudaMemcpy(host, ptr_, n * sizeof(T), cudaMemcpyDeviceToHost));
  }

 private:
  void reset() noexcept {
    if (ptr_) cudaFree(ptr_);  // errors on free cannot be reported from a destructor
    ptr_ = nullptr;
    n_ = 0;
  }
  T* ptr_ = nullptr;
  std::size_t n_ = 0;
};

// An owned, non-blocking CUDA stream. Move-only.
class CudaStream {
 public:
  CudaStream();
  ~CudaStream();
  CudaStream(CudaStream&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  CudaStream& operator=(CudaStream&&) = delete;
  CudaStream(const CudaStream&) = delete;
  CudaStream& operator=(const CudaStream&) = delete;
  cudaStream_t get() const { return s_; }
  void synchronize() const { LLMRT_CUDA_CHECK(cudaStreamSynchronize(s_)); }

 private:
  cudaStream_t s_ = nullptr;
};

class GemmPlanCache;  // gemm_plan.h

// The cuBLASLt handle, the workspace its fastest algorithms ask for, and the cached plans of the
// GEMMs run on one stream. One per stream, used from one host thread at a time: the workspace is
// reused by every matmul, and a call writes its bias/aux pointers into a cached plan's desc, so
// two streams or threads sharing one would race on both.
class GemmContext {
 public:
  static constexpr std::size_t kDefaultWorkspaceBytes = std::size_t(32) << 20;  // Hopper wants 32 MiB
  explicit GemmContext(std::size_t workspace_bytes = kDefaultWorkspaceBytes);
  ~GemmContext();
  GemmContext(const GemmContext&) = delete;
  GemmContext& operator=(const GemmContext&) = delete;
  cublasLtHandle_t handle() const { return handle_; }
  void* workspace() const { return workspace_.get(); }
  std::size_t workspace_bytes() const { return workspace_.bytes(); }

  // One plan (desc, layouts, algorithm) per GEMM key (shape, lds, transposes, types, epilogue,
  // pointer alignments): a handful per model, each built once.
  GemmPlanCache& plans() { return *plans_; }
  std::size_t plan_count() const;
  std::size_t plan_hits() const;    // calls that found their plan cached
  std::size_t plan_misses() const;  // plans built (one heuristic query each)

  // Calls that found no cuBLASLt algorithm and ran the slow fallback kernel (expected only for
  // odd test shapes; a benchmark that sees any has a layout problem).
  std::size_t fallback_calls() const { return fallback_calls_; }
  void note_fallback() { fallback_calls_++; }
  // When false, a GEMM cuBLASLt has no algorithm for throws CudaError naming its shape instead
  // of running the fallback kernel (benchmarks and the GPU check set it). Default true.
  void set_fallback_allowed(bool allowed) { fallback_allowed_ = allowed; }
  bool fallback_allowed() const { return fallback_allowed_; }

  // Calls of a fused-epilogue matmul (bias, GELU, dGELU) that ran unfused: the epilogue's rules
  // or the heuristic refused it, and a separate kernel finished the job.
  std::size_t epilogue_fallbacks() const { return epilogue_fallbacks_; }
  void note_epilogue_fallback() { epilogue_fallbacks_++; }
  // When false, fused epilogues are never tried (the tests compare both paths). Default true.
  void set_epilogue_fusion(bool enabled) { epilogue_fusion_ = enabled; }
  bool epilogue_fusion() const { return epilogue_fusion_; }

  // Multiprocessors of the device this context was made on (kernel grid sizes).
  int sm_count() const { return sm_count_; }

 private:
  cublasLtHandle_t handle_ = nullptr;
  DeviceBuffer<unsigned char> workspace_;
  std::unique_ptr<GemmPlanCache> plans_;  // destroyed before the handle (see the destructor)
  std::size_t fallback_calls_ = 0, epilogue_fallbacks_ = 0;
  bool fallback_allowed_ = true, epilogue_fusion_ = true;
  int sm_count_ = 1;
};

// What one rank's CUDA kernels run with: a stream and the GEMM context bound to it.
class CudaContext {
 public:
  explicit CudaContext(std::size_t gemm_workspace_bytes = GemmContext::kDefaultWorkspaceBytes)
      : gemm_(gemm_workspace_bytes) {}
  cudaStream_t stream() const { return stream_.get(); }
  GemmContext& gemm() { return gemm_; }
  void synchronize() const { stream_.synchronize(); }

 private:
  CudaStream stream_;  // declared first: destroyed after the GEMM context that may use it
  GemmContext gemm_;
};

}  // namespace llmrt::kernels::cuda
