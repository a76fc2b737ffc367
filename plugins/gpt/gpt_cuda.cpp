// The GPT layers' CUDA plumbing: workspace, shared GEMM contexts, device tensor checks, token
// upload and the tensor-parallel sum (see gpt_cuda.h).
#include "gpt/gpt_cuda.h"

#include <map>
#include <mutex>
#include <utility>

namespace llmrt::gpt {

namespace {
// The stream each workspace serves, as the registry's key.
struct WorkspaceKey {
  int device;
  cudaStream_t stream;
  auto operator<=>(const WorkspaceKey&) const = default;
};
// (device, stream) → its workspace while any layer instance holds it.
struct WorkspaceRegistry {
  std::mutex mutex;
  std::map<WorkspaceKey, std::weak_ptr<CudaWorkspace>> workspaces;
};
WorkspaceRegistry& workspace_registry() {
  static auto* registry = new WorkspaceRegistry();  // leaked, as gemm_context's: no exit-order hazards
  return *registry;
}
}  // namespace

CudaWorkspace::~CudaWorkspace() {
  if (data_ != nullptr) cudaFree(data_);  // nothing to report to from a destructor
}

std::vector<std::byte*> CudaWorkspace::carve(const scratch::Regions& bytes, cudaStream_t stream) {
  const size_t total = scratch::carve_bytes(bytes);
  if (total > capacity_) {
    // Work queued earlier may still read the old block: wait for it before freeing.
    LLMRT_CUDA_CHECK(cudaStreamSynchronize(stream));
    if (data_ != nullptr) LLMRT_CUDA_CHECK(cudaFree(data_));
    data_ = nullptr, capacity_ = 0;
    LLMRT_CUDA_CHECK(cudaSetDevice(device_));
    LLMRT_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&data_), total));
    capacity_ = total;
  }
  std::vector<std::byte*> regions;
  size_t offset = 0;
  for (size_t b : bytes) {
    regions.push_back(data_ + offset);
    offset += scratch::aligned(b);
  }
  return regions;
}

CudaWorkspace& workspace_of(std::shared_ptr<CudaWorkspace>& slot, const llmrt_call_ctx& ctx) {
  const WorkspaceKey key{ctx.device.index, stream_of(ctx)};
  WorkspaceRegistry& registry = workspace_registry();
  std::lock_guard lock(registry.mutex);
  std::weak_ptr<CudaWorkspace>& entry = registry.workspaces[key];
  std::shared_ptr<CudaWorkspace> shared = entry.lock();
  if (!shared) {
    shared = std::make_shared<CudaWorkspace>(ctx.device.index);
    entry = shared;
  }
  slot = std::move(shared);  // the instance's reference moves to this stream's workspace
  return *slot;
}

cu::GemmContext& gemm_context(int device, cudaStream_t stream) {
  static std::mutex mutex;
  // Leaked on purpose, see the header; a handful of entries (the stages' streams on each GPU).
  static auto* contexts = new std::map<std::pair<int, cudaStream_t>, cu::GemmContext*>();
  std::lock_guard lock(mutex);
  cu::GemmContext*& context = (*contexts)[{device, stream}];
  if (context == nullptr) context = new cu::GemmContext();  // allocates on the current device
  return *context;
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
