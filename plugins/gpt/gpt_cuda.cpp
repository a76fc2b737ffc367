// The GPT layers' CUDA plumbing: workspace, shared GEMM contexts, device tensor checks, token
// upload and the tensor-parallel sum (see gpt_cuda.h).
#include "gpt/gpt_cuda.h"

#include <map>
#include <mutex>

namespace llmrt::gpt {

namespace {
constexpr size_t kAlign = 256;  // what cuBLASLt and vector loads like best
size_t aligned(size_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }
}  // namespace

CudaWorkspace::~CudaWorkspace() {
  if (data_ != nullptr) cudaFree(data_);  // nothing to report to from a destructor
}

std::vector<std::byte*> CudaWorkspace::carve(std::initializer_list<size_t> bytes, cudaStream_t stream) {
  size_t total = 0;
  for (size_t b : bytes) total += aligned(b);
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
    offset += aligned(b);
  }
  return regions;
}

CudaWorkspace& workspace_of(std::shared_ptr<CudaWorkspace>& slot, const llmrt_call_ctx& ctx) {
  if (!slot) slot = std::make_shared<CudaWorkspace>(ctx.device.index);
  return *slot;
}

cu::GemmContext& gemm_context(int device) {
  static std::mutex mutex;
  static auto* contexts = new std::map<int, cu::GemmContext*>();  // leaked on purpose, see the header
  std::lock_guard lock(mutex);
  cu::GemmContext*& context = (*contexts)[device];
  if (context == nullptr) context = new cu::GemmContext();
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

void require_bf16(int32_t dtype, std::string_view where) {
  if (dtype != LLMRT_DTYPE_BF16) {
    throw PluginError(std::string(where) + ": on CUDA the GPT layers run bf16 only, this layer's compute dtype is " +
                          std::to_string(dtype) + " (set train.precision = \"bf16\")",
                      LLMRT_UNIMPLEMENTED);
  }
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

void TpSum::bias_residual(bf16* out, const bf16* partial, const bf16* residual, const bf16* bias, int n, int c,
                          std::string_view what) const {
  const cudaStream_t stream = stream_of(ctx);
  if (tp <= 1) return cu::bias_residual_forward(out, partial, residual, bias, n, c, stream);
  const size_t count = size_t(n) * c;
  cu::bf16_to_float(wide, partial, count, stream);
  tp_all_reduce(host, ctx, wide, total, count, what);
  cu::bias_residual_forward(out, total, residual, bias, n, c, stream);
}

void TpSum::in_place(bf16* values, size_t count, std::string_view what) const {
  if (tp <= 1) return;
  const cudaStream_t stream = stream_of(ctx);
  cu::bf16_to_float(wide, values, count, stream);
  tp_all_reduce(host, ctx, wide, total, count, what);
  cu::float_to_bf16(values, total, count, stream);
}

}  // namespace llmrt::gpt
