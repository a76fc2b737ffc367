// The GPT layers' CUDA plumbing: each stream's workspace and GEMM context, device tensor checks, token
// upload and the tensor-parallel sum (see gpt_cuda.h).
#include "gpt/gpt_cuda.h"

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <utility>

namespace llmrt::gpt {

namespace {
// (device, stream handle) → the id of the stream last seen at that handle, and its resources
// while any layer instance holds them. The id (cudaStreamGetId, unique for the process's life)
// tells apart two streams that had the same handle at different times.
struct WorkspaceEntry {
  unsigned long long stream_id = 0;
  std::weak_ptr<CudaWorkspace> workspace;
};
struct WorkspaceRegistry {
  std::mutex mutex;
  std::map<std::pair<int, cudaStream_t>, WorkspaceEntry> workspaces;
};
WorkspaceRegistry& workspace_registry() {
  static auto* registry = new WorkspaceRegistry();  // leaked: no exit-order hazards
  return *registry;
}
// The stream's id, or nothing while it is being captured into a CUDA graph (the driver refuses
// the query then; the stream's resources were made by an eager pass before capture).
std::optional<unsigned long long> stream_id(cudaStream_t stream) {
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  LLMRT_CUDA_CHECK(cudaStreamIsCapturing(stream, &capture));
  if (capture != cudaStreamCaptureStatusNone) return std::nullopt;
  unsigned long long id = 0;
  LLMRT_CUDA_CHECK(cudaStreamGetId(stream, &id));
  return id;
}
}  // namespace

CudaWorkspace::~CudaWorkspace() {
  // Memory from the stream-ordered pool is freed by cudaFree without any implicit wait, and the
  // stream may be gone already (a test drops it first): wait for the device, as the cudaFree of
  // a cudaMalloc block always did. Teardown only; nothing to report to from a destructor.
  if (raw_ == nullptr && gemm_ == nullptr) return;
  cudaSetDevice(device_);
  cudaDeviceSynchronize();
  gemm_.reset();
  if (raw_ != nullptr) cudaFree(raw_);
}

void CudaWorkspace::reserve_once(size_t bytes) {
  if (reserved_) return;
  reserved_ = true;
  if (bytes > capacity_) grow_to(bytes);
  grows_ = 0;  // the reservation is the plan, not a growth
}

void CudaWorkspace::grow_to(size_t bytes) {
  // Stream order, no wait (see the header): the old block's free follows every pass queued on
  // this stream so far, the only work that uses it, and the new block is ready for the next.
  LLMRT_CUDA_CHECK(cudaSetDevice(device_));
  if (raw_ != nullptr) LLMRT_CUDA_CHECK(cudaFreeAsync(raw_, stream_));
  raw_ = nullptr, data_ = nullptr, capacity_ = 0;
  // The regions want 256-byte starts; cudaMallocAsync's reference promises no alignment (only
  // cudaMalloc's does), so the block is padded and its start rounded up.
  LLMRT_CUDA_CHECK(cudaMallocAsync(&raw_, bytes + scratch::kAlign - 1, stream_));
  const auto address = reinterpret_cast<std::uintptr_t>(raw_);
  data_ = reinterpret_cast<std::byte*>((address + scratch::kAlign - 1) / scratch::kAlign * scratch::kAlign);
  capacity_ = bytes;
  ++grows_;
}

std::vector<std::byte*> CudaWorkspace::carve(const scratch::Regions& bytes, cudaStream_t stream) {
  if (stream != stream_) throw cu::CudaError("a workspace carved from a pass on another stream (an llmrt bug)");
  const size_t total = scratch::carve_bytes(bytes);
  if (total > capacity_) grow_to(total);
  std::vector<std::byte*> regions;
  size_t offset = 0;
  for (size_t b : bytes) {
    regions.push_back(data_ + offset);
    offset += scratch::aligned(b);
  }
  return regions;
}

cu::GemmContext& CudaWorkspace::gemm() {
  if (gemm_ == nullptr) gemm_ = std::make_unique<cu::GemmContext>();  // on the current device (bind_device)
  return *gemm_;
}

CudaWorkspace& stream_resources(std::shared_ptr<CudaWorkspace>& slot, const llmrt_call_ctx& ctx) {
  const cudaStream_t stream = stream_of(ctx);
  const std::optional<unsigned long long> id = stream_id(stream);
  WorkspaceRegistry& registry = workspace_registry();
  std::lock_guard lock(registry.mutex);
  WorkspaceEntry& entry = registry.workspaces[{ctx.device.index, stream}];
  std::shared_ptr<CudaWorkspace> shared = entry.workspace.lock();
  if (!shared || (id && *id != entry.stream_id)) {  // none yet, or a new stream at an old handle
    if (!id) {
      throw cu::CudaError("the GPT layers' first pass on a stream is being captured into a CUDA graph: "
                          "their workspace is made by an eager pass (a warm-up step) before capture");
    }
    shared = std::make_shared<CudaWorkspace>(ctx.device.index, stream);
    entry = WorkspaceEntry{*id, shared};
  }
  slot = std::move(shared);  // the instance's reference moves to this stream's resources
  return *slot;
}

CudaWorkspace& workspace_of(std::shared_ptr<CudaWorkspace>& slot, const llmrt_call_ctx& ctx, const BatchShape& shape) {
  CudaWorkspace& workspace = stream_resources(slot, ctx);
  // The live layers' hints are asked once per stream, not per pass.
  if (!workspace.reserved()) workspace.reserve_once(scratch::largest_live_workspace(shape.batch, shape.seq));
  return workspace;
}

void bind_device(const llmrt_call_ctx& ctx, std::string_view where) {
  int current = -1;
  const cudaError_t err = cudaGetDevice(&current);
  if (err == cudaSuccess && current == ctx.device.index) return;
  cuda_pass(where, [&] { LLMRT_CUDA_CHECK(cudaSetDevice(ctx.device.index)); });
}

void* device_data(const llmrt_tensor& tensor, int32_t dtype, const llmrt_call_ctx& ctx, std::string_view what) {
  const std::string name(what);
  if (tensor.dtype != dtype) {
    throw PluginError(name + ": dtype " + std::to_string(tensor.dtype) + " on CUDA, expected " + std::to_string(dtype),
                      LLMRT_UNIMPLEMENTED);
  }
  if (tensor.device.type != LLMRT_DEVICE_CUDA || tensor.device.index != ctx.device.index) {
    throw PluginError(name + ": not in the memory of CUDA device " + std::to_string(ctx.device.index) +
                          " (device type " + std::to_string(tensor.device.type) + ", index " +
                          std::to_string(tensor.device.index) + ")",
                      LLMRT_INTERNAL);
  }
  if (!is_contiguous(tensor)) throw PluginError(name + ": not contiguous", LLMRT_UNIMPLEMENTED);
  if (tensor.data == nullptr && numel(tensor) > 0) throw PluginError(name + ": no data", LLMRT_INTERNAL);
  return tensor.data;
}

const int32_t* device_ids(const llmrt_tensor& tensor, int64_t rows, int64_t limit, int32_t* scratch,
                          const llmrt_call_ctx& ctx, std::string_view what) {
  const std::string name(what);
  if (numel(tensor) != rows) throw PluginError(name + ": expected " + std::to_string(rows) + " ids");
  if (tensor.device.type == LLMRT_DEVICE_CUDA) {
    return static_cast<const int32_t*>(device_data(tensor, LLMRT_DTYPE_I32, ctx, what));
  }
  const int32_t* ids = cpu_data<int32_t>(tensor, what);
  for (int64_t i = 0; i < rows; ++i) {
    if (ids[i] < 0 || ids[i] >= limit) {
      throw PluginError(name + ": id " + std::to_string(ids[i]) + " outside [0, " + std::to_string(limit) + ")");
    }
  }
  // From pageable memory the copy is staged before it returns, so `ids` may go away after it.
  cuda_pass(name, [&] {
    LLMRT_CUDA_CHECK(cudaMemcpyAsync(scratch, ids, size_t(rows) * sizeof(int32_t), cudaMemcpyHostToDevice,
                                     stream_of(ctx)));
  });
  return scratch;
}

}  // namespace llmrt::gpt

namespace llmrt::gpt {

template <typename T>
void widen(float* out, const T* in, size_t n, cudaStream_t stream) {
  if constexpr (std::is_same_v<T, float>) {
    LLMRT_CUDA_CHECK(cudaMemcpyAsync(out, in, n * sizeof(float), cudaMemcpyDeviceToDevice, stream));
  } else if constexpr (std::is_same_v<T, bf16>) {
    cu::bf16_to_float(out, in, n, stream);
  } else {
    cu::f16_to_float(out, in, n, stream);
  }
}

template <typename T>
void narrow(T* out, const float* in, size_t n, cudaStream_t stream) {
  if constexpr (std::is_same_v<T, float>) {
    LLMRT_CUDA_CHECK(cudaMemcpyAsync(out, in, n * sizeof(float), cudaMemcpyDeviceToDevice, stream));
  } else if constexpr (std::is_same_v<T, bf16>) {
    cu::float_to_bf16(out, in, n, stream);
  } else {
    cu::float_to_f16(out, in, n, stream);
  }
}

template <typename T>
void TpSum::reduce(const T* partial, size_t count, std::string_view what) const {
  if constexpr (std::is_same_v<T, float>) {
    tp_all_reduce(host, ctx, partial, total, count, what);
  } else {
    widen(wide, partial, count, stream_of(ctx));
    tp_all_reduce(host, ctx, wide, total, count, what);
  }
}

template <typename T>
void TpSum::bias_residual(T* out, const T* partial, const T* residual, const T* bias, int n, int c,
                          std::string_view what) const {
  const cudaStream_t stream = stream_of(ctx);
  if (tp <= 1) return cu::bias_residual_forward(out, partial, residual, bias, n, c, stream);
  reduce(partial, size_t(n) * c, what);
  cu::bias_residual_forward(out, static_cast<const float*>(total), residual, bias, n, c, stream);
}

template <typename T>
void TpSum::in_place(T* values, size_t count, std::string_view what) const {
  if (tp <= 1) return;
  reduce(values, count, what);
  narrow(values, total, count, stream_of(ctx));
}

#define LLMRT_GPT_CUDA_INSTANTIATE(T)                                                                        \
  template void widen<T>(float*, const T*, size_t, cudaStream_t);                                            \
  template void narrow<T>(T*, const float*, size_t, cudaStream_t);                                           \
  template void TpSum::bias_residual<T>(T*, const T*, const T*, const T*, int, int, std::string_view) const; \
  template void TpSum::in_place<T>(T*, size_t, std::string_view) const;
LLMRT_GPT_CUDA_INSTANTIATE(float)
LLMRT_GPT_CUDA_INSTANTIATE(bf16)
LLMRT_GPT_CUDA_INSTANTIATE(f16)
#undef LLMRT_GPT_CUDA_INSTANTIATE

}  // namespace llmrt::gpt
