// AdamW and SGD on CUDA: the fp32 master weights, gradients and state buffers are device memory
// the host allocated; each step is one kernel queued on ctx.stream (kernels/cuda).
#include "optim/optimizers.h"

#include <cuda_runtime.h>

#include <string>

#include "cuda/kernels_cuda.h"

namespace llmrt::optim {
namespace {

namespace cu = llmrt::kernels::cuda;

// A flat fp32 device buffer of exactly `n` elements on CUDA ordinal ctx.device.index.
float* device_flat(const llmrt_tensor& tensor, int64_t n, const llmrt_call_ctx& ctx, const std::string& what) {
  if (numel(tensor) != n) {
    throw PluginError(what + ": expected " + std::to_string(n) + " elements, got " + std::to_string(numel(tensor)),
                      LLMRT_INTERNAL);
  }
  if (tensor.dtype != LLMRT_DTYPE_F32) {
    throw PluginError(what + ": dtype " + std::to_string(tensor.dtype) + ", the optimizers step fp32 buffers",
                      LLMRT_UNIMPLEMENTED);
  }
  if (tensor.device.type != LLMRT_DEVICE_CUDA || tensor.device.index != ctx.device.index) {
    throw PluginError(what + ": not in the memory of CUDA device " + std::to_string(ctx.device.index),
                      LLMRT_INTERNAL);
  }
  if (!is_contiguous(tensor)) throw PluginError(what + ": not contiguous", LLMRT_UNIMPLEMENTED);
  if (tensor.data == nullptr && n > 0) throw PluginError(what + ": no data", LLMRT_INTERNAL);
  return static_cast<float*>(tensor.data);
}

cudaStream_t stream_of(const llmrt_call_ctx& ctx) { return reinterpret_cast<cudaStream_t>(ctx.stream); }

// Runs a step on ctx.device; CUDA errors (code, name, text) become PluginErrors naming `who`.
template <typename Body>
void on_device(const llmrt_call_ctx& ctx, const char* who, Body&& body) {
  try {
    LLMRT_CUDA_CHECK(cudaSetDevice(ctx.device.index));
    body();
  } catch (const cu::CudaError& error) {
    throw PluginError(std::string(who) + " (CUDA): " + error.what(), LLMRT_INTERNAL);
  }
}

}  // namespace

void adamw_step_cuda(const llmrt_call_ctx& ctx, llmrt_tensor& params, const llmrt_tensor& grads, Out states,
                     float lr, float beta1, float beta2, float eps, float weight_decay, int64_t step) {
  const int64_t n = numel(params);
  float* p = device_flat(params, n, ctx, "params");
  const float* g = device_flat(grads, n, ctx, "grads");
  float* m = device_flat(states[0], n, ctx, "m");
  float* v = device_flat(states[1], n, ctx, "v");
  on_device(ctx, "adamw", [&] {
    cu::adamw_update(p, g, m, v, size_t(n), lr, beta1, beta2, eps, weight_decay, int(step), nullptr, stream_of(ctx));
  });
}

void sgd_step_cuda(const llmrt_call_ctx& ctx, llmrt_tensor& params, const llmrt_tensor& grads, Out states, float lr,
                   float momentum, float weight_decay) {
  const int64_t n = numel(params);
  float* p = device_flat(params, n, ctx, "params");
  const float* g = device_flat(grads, n, ctx, "grads");
  float* buffer = momentum > 0 ? device_flat(states[0], n, ctx, "momentum_buffer") : nullptr;
  on_device(ctx, "sgd", [&] {
    cu::sgd_update(p, g, buffer, size_t(n), lr, momentum, weight_decay, stream_of(ctx));
  });
}

}  // namespace llmrt::optim
