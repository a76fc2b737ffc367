// The GPT layers' CUDA plumbing (builds with LLMRT_HAVE_CUDA only): the dispatch on the compute
// dtype (f32, bf16, f16: every pass is a template on its storage type T), device tensors checked
// and typed, the device workspace and cuBLASLt context of each stream,
// the tensor-parallel sum on device memory, and CUDA errors turned into PluginErrors naming the
// pass. Everything is queued on the call's stream (ctx.stream, a cudaStream_t;
// NULL is the legacy default stream); nothing here synchronises (a workspace that grows replaces
// its block in stream order).
#pragma once

#if !LLMRT_HAVE_CUDA
#error "gpt_cuda.h is for builds with CUDA (LLMRT_HAVE_CUDA)"
#endif

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "cuda/kernels_cuda.h"
#include "gpt/gpt_layers.h"
#include "gpt/gpt_scratch.h"

namespace llmrt::gpt {

namespace cu = llmrt::kernels::cuda;
using cu::bf16;
using cu::f16;

// The device scratch and the cuBLASLt context of one (device, stream): one allocation, carved
// afresh by each pass of every GPT layer instance queued on that stream (gpt_scratch.h lists each
// pass's regions), and one GemmContext (32 MiB of cuBLASLt workspace and the cached plans).
//
// Sized once: the first carve on a stream reserves the largest workspace_bytes hint of the live
// GPT layers (scratch::largest_live_workspace, the planner's per-rank scratch figure), so a
// steady state never allocates and step 1 does not grow it layer by layer. Should a pass still
// need more (a shape no live layer's hints foresaw), the block is replaced in the stream's own
// order: cudaFreeAsync of the old block and cudaMallocAsync of the new one, both on this stream.
// Nothing waits for the device or the stream (cudaFree would wait for the whole device: a rank
// blocked in it mid-step cannot queue the NCCL send a pipeline peer waits for). Stream order is
// enough because only this stream's passes use the block (the sharing rule below; a tp-sum's
// NCCL all-reduce of workspace regions is queued on the same stream, or ordered before the
// stream's next pass by the host's events).
//
// The sharing rule, which every pass in *_cuda.cpp keeps: no pass leaves data in the workspace
// for a later call. What backward needs is in the saved buffer; what a pass puts in the workspace
// (row-parallel partials, tp-sum buffers, uploaded ids, attention scratch, selective recompute's
// ln1/ln2/fc_act, which backward_weight remakes; the head's logits, which backward recomputes) is
// dead when its last kernel has run. The passes of one stream run in queue order on the device,
// so the next pass's kernels, whoever queues them, start after the last one's are done with the
// bytes. Used from one host thread at a time per stream (the executor's thread of that stage); a
// pass on another stream gets that stream's workspace.
class CudaWorkspace {
 public:
  CudaWorkspace(int device, cudaStream_t stream) : device_(device), stream_(stream) {}
  // At teardown (the last layer instance that used it is destroyed, possibly after its stream):
  // the device's work is waited for, then the block and the GEMM context are freed.
  ~CudaWorkspace();
  CudaWorkspace(const CudaWorkspace&) = delete;
  CudaWorkspace& operator=(const CudaWorkspace&) = delete;

  // The first carve's reservation: at least `bytes`, once (later calls do nothing).
  void reserve_once(size_t bytes);
  bool reserved() const { return reserved_; }
  // Pointers to regions of `bytes` each (each at a multiple of scratch::kAlign = 256 bytes),
  // growing the allocation to scratch::carve_bytes(bytes) if needed. `stream` is the
  // workspace's own (the registry's key); a pass on another stream is refused.
  std::vector<std::byte*> carve(const scratch::Regions& bytes, cudaStream_t stream);
  size_t capacity() const { return capacity_; }
  size_t grows() const { return grows_; }  // blocks replaced after the reservation
  cu::GemmContext& gemm();                 // made on first use, on the current device

 private:
  void grow_to(size_t bytes);

  int device_;
  cudaStream_t stream_;
  void* raw_ = nullptr;        // what cudaMallocAsync returned, for the free
  std::byte* data_ = nullptr;  // raw_ rounded up to scratch::kAlign
  size_t capacity_ = 0;
  size_t grows_ = 0;
  bool reserved_ = false;
  std::unique_ptr<cu::GemmContext> gemm_;
};

// The resources of ctx's (device, stream), shared with every layer instance queued on it; made on
// first use (a map lookup under a mutex per pass). `slot` is the calling instance's reference: it
// keeps the resources of the stream it last ran on alive, so they are freed with the last
// instance that used them (at teardown: the executor destroys the layers before their stream).
// Keyed by the stream's handle and its id (cudaStreamGetId, unique for the process's life): a new
// stream at a destroyed one's handle gets its own. workspace_of also makes the first carve's
// reservation for the call's shape.
CudaWorkspace& stream_resources(std::shared_ptr<CudaWorkspace>& slot, const llmrt_call_ctx& ctx);
CudaWorkspace& workspace_of(std::shared_ptr<CudaWorkspace>& slot, const llmrt_call_ctx& ctx, const BatchShape& shape);

// The cuBLASLt handle and workspace for the GEMMs of a pass on ctx's stream: that stream's (a
// workspace shared by two streams would race, and a rank runs one stream per stage).
inline cu::GemmContext& gemm_context(std::shared_ptr<CudaWorkspace>& slot, const llmrt_call_ctx& ctx) {
  return stream_resources(slot, ctx).gemm();
}

// The call's stream as the CUDA runtime's handle.
inline cudaStream_t stream_of(const llmrt_call_ctx& ctx) { return reinterpret_cast<cudaStream_t>(ctx.stream); }

// Makes ctx.device the calling thread's current GPU (a no-op when it already is).
void bind_device(const llmrt_call_ctx& ctx, std::string_view where);

// The storage type T of a compute dtype on CUDA: float (f32), bf16 or f16.
template <typename T>
constexpr int32_t dtype_of() {
  if constexpr (std::is_same_v<T, float>) return LLMRT_DTYPE_F32;
  else if constexpr (std::is_same_v<T, bf16>) return LLMRT_DTYPE_BF16;
  else {
    static_assert(std::is_same_v<T, f16>, "the CUDA layers store f32, bf16 or f16");
    return LLMRT_DTYPE_F16;
  }
}

// Calls body(std::type_identity<T>{}) with T the storage type of `dtype`: each pass is written
// once as a template and dispatched here, once per call. Any other dtype is refused (supports()
// says so at `check`; this is the guard for a host that did not ask).
template <typename Body>
void dispatch_dtype(int32_t dtype, std::string_view where, Body&& body) {
  switch (dtype) {
    case LLMRT_DTYPE_F32: return body(std::type_identity<float>{});
    case LLMRT_DTYPE_BF16: return body(std::type_identity<bf16>{});
    case LLMRT_DTYPE_F16: return body(std::type_identity<f16>{});
    default:
      throw PluginError(std::string(where) + ": compute dtype " + std::to_string(dtype) +
                            " on CUDA, where the GPT layers run f32, bf16 or f16",
                        LLMRT_UNIMPLEMENTED);
  }
}

// The device data of a contiguous tensor of `dtype` on CUDA ordinal ctx.device.index; throws a
// PluginError naming `what` otherwise.
void* device_data(const llmrt_tensor& tensor, int32_t dtype, const llmrt_call_ctx& ctx, std::string_view what);
// An activation (or its gradient) stored as T.
template <typename T>
const T* typed_in(const llmrt_tensor& t, const llmrt_call_ctx& ctx, std::string_view what) {
  return static_cast<const T*>(device_data(t, dtype_of<T>(), ctx, what));
}
template <typename T>
T* typed_out(const llmrt_tensor& t, const llmrt_call_ctx& ctx, std::string_view what) {
  return static_cast<T*>(device_data(t, dtype_of<T>(), ctx, what));
}
// A weight (the compute copy at T; the fp32 master itself at f32) of exactly `expected_numel` values.
template <typename T>
const T* typed_weight(const llmrt_tensor& t, int64_t expected_numel, const llmrt_call_ctx& ctx,
                      std::string_view what) {
  check_numel(t, expected_numel, what);
  return typed_in<T>(t, ctx, what);
}
// A parameter gradient (fp32 at every precision) holding exactly `expected_numel` values.
inline float* f32_grad(const llmrt_tensor& t, int64_t expected_numel, const llmrt_call_ctx& ctx,
                       std::string_view what) {
  check_numel(t, expected_numel, what);
  return static_cast<float*>(device_data(t, LLMRT_DTYPE_F32, ctx, what));
}

// out (n) = in (n) converted between T and fp32 on the stream (a device copy when T is float).
template <typename T>
void widen(float* out, const T* in, size_t n, cudaStream_t stream);
template <typename T>
void narrow(T* out, const float* in, size_t n, cudaStream_t stream);

// Token ids (B*T) i32 on the device: the tensor itself when it is there, else checked on the
// host (each in [0, limit)) and copied into `scratch` (room for `rows` ids) on the stream. Ids on
// the device are not range-checked: the kernels trust them.
const int32_t* device_ids(const llmrt_tensor& tensor, int64_t rows, int64_t limit, int32_t* scratch,
                          const llmrt_call_ctx& ctx, std::string_view what);

// Runs one CUDA pass; a CudaError (a CUDA or cuBLAS code, its name and text, and the call site)
// becomes a PluginError prefixed with `where`.
template <typename Body>
void cuda_pass(std::string_view where, Body&& body) {
  try {
    body();
  } catch (const cu::CudaError& error) {
    throw PluginError(std::string(where) + ": " + error.what(), LLMRT_INTERNAL);
  }
}

}  // namespace llmrt::gpt

namespace llmrt::gpt {

// The tensor-parallel sum of a row-parallel linear's (N, C) partial output on the device. At
// tp = 1 there is nothing to sum and no all-reduce is made. Otherwise the partials (T) are
// all-reduced in f32 (what the staged MPI path reduces, and no 16-bit rounding of the sum):
// 16-bit partials are widened into `wide` first, f32 ones are reduced from where they are; the
// sum lands in `total` and is used from there.
struct TpSum {
  const llmrt_host_api* host;
  const llmrt_call_ctx& ctx;
  int64_t tp;
  float* wide = nullptr;   // (N, C) f32 scratch, tp > 1 only
  float* total = nullptr;  // (N, C) f32 scratch, tp > 1 only (sizes: the passes' lists in gpt_scratch.h)

  // out (N, C) = the group's sum of partial (N, C) + residual (N, C) + bias (C), rounded once.
  template <typename T>
  void bias_residual(T* out, const T* partial, const T* residual, const T* bias, int n, int c,
                     std::string_view what) const;
  // values (count) = the group's sum of values, in place.
  template <typename T>
  void in_place(T* values, size_t count, std::string_view what) const;

 private:
  // The group's sum of partial (count) in `total`.
  template <typename T>
  void reduce(const T* partial, size_t count, std::string_view what) const;
};

// The block's weights (T compute copies) and gradients (fp32), in BlockParam order, checked.
template <typename T>
std::vector<const T*> block_weights(const Block& block, In params, const llmrt_call_ctx& ctx);
std::vector<float*> block_grads(const Block& block, Out grads, const llmrt_call_ctx& ctx);

}  // namespace llmrt::gpt
