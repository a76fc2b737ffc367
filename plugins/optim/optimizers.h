// AdamW and SGD with PyTorch's semantics over the host's flat fp32 buffers (params, grads and
// state of n elements each): on the CPU through kernels/cpu, on CUDA (builds with
// LLMRT_HAVE_CUDA, optim_cuda.cpp) through kernels/cuda with every buffer in device memory.
// The fp32 params are the master weights: no bf16 copy is written here, the host's ParamStore
// makes the compute copy with ComputeDevice::convert after the step.
#pragma once

#include <llmrt/plugin.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace llmrt::optim {

// torch.optim.AdamW: decoupled weight decay on every parameter, bias-corrected moments.
class AdamW : public Optimizer {
 public:
  static std::vector<ConfigKey> config_keys();
  explicit AdamW(const ComponentArgs& args);
  std::vector<StateSpec> state_specs() override { return {{"m"}, {"v"}}; }
  // params, grads, states m and v: (n) flat fp32
  void step(const llmrt_call_ctx& ctx, llmrt_tensor& params, const llmrt_tensor& grads, Out states, double lr,
            int64_t step) override;

 private:
  double beta1_ = 0, beta2_ = 0, eps_, weight_decay_;
};

// torch.optim.SGD (dampening 0, no Nesterov): weight decay is L2 added to the gradient.
class Sgd : public Optimizer {
 public:
  static std::vector<ConfigKey> config_keys();
  explicit Sgd(const ComponentArgs& args);
  std::vector<StateSpec> state_specs() override {
    if (momentum_ > 0) return {{"momentum_buffer"}};
    return {};
  }
  // params, grads, momentum_buffer (when momentum > 0): (n) flat fp32
  void step(const llmrt_call_ctx& ctx, llmrt_tensor& params, const llmrt_tensor& grads, Out states, double lr,
            int64_t step) override;

 private:
  double momentum_, weight_decay_;
};

// The CUDA steps (optim_cuda.cpp): every pointer is device memory of CUDA ordinal ctx.device.index,
// queued on ctx.stream. Each checks the tensors (fp32, contiguous, on that device, n elements).
void adamw_step_cuda(const llmrt_call_ctx& ctx, llmrt_tensor& params, const llmrt_tensor& grads, Out states,
                     float lr, float beta1, float beta2, float eps, float weight_decay, int64_t step);
void sgd_step_cuda(const llmrt_call_ctx& ctx, llmrt_tensor& params, const llmrt_tensor& grads, Out states, float lr,
                   float momentum, float weight_decay);

}  // namespace llmrt::optim
