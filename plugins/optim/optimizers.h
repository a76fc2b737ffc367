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

// Runs `part(params, grads, states, lr, weight_decay)` once per entry of args.table (on the
// entry's part of every buffer, at lr * lr_scale and its weight_decay), or once over the flat
// buffers with `weight_decay` when the table is empty.
template <typename Part>
void for_each_part(const OptimizerStepArgs& args, double weight_decay, Part&& part) {
  if (args.table.empty()) return part(args.params, args.grads, args.states, args.lr, weight_decay);
  for (const llmrt_optimizer_param& entry : args.table) {
    llmrt_tensor params = param_part(args.params, entry);
    const llmrt_tensor grads = param_part(args.grads, entry);
    std::vector<llmrt_tensor> states;
    for (const llmrt_tensor& state : args.states) states.push_back(param_part(state, entry));
    part(params, grads, Out(states), args.lr * entry.lr_scale, entry.weight_decay);
  }
}

// torch.optim.AdamW: decoupled weight decay, bias-corrected moments. Per tensor of the host's
// parameter table: lr * lr_scale and the entry's resolved weight_decay (none on 1-D tensors and
// what layers flag no-decay, unless a param group sets it), as torch with the peers' two groups.
class AdamW : public Optimizer {
 public:
  static constexpr uint32_t kFlags = LLMRT_OPTIMIZER_PARAM_GROUPS;
  static std::vector<ConfigKey> config_keys();
  explicit AdamW(const ComponentArgs& args);
  std::vector<StateSpec> state_specs() override { return {{"m"}, {"v"}}; }
  // params, grads, states m and v: (n) flat fp32; with an empty table (a host before ABI 1.1)
  // every element steps with the config's weight_decay.
  void step_params(const llmrt_call_ctx& ctx, const OptimizerStepArgs& args) override;

 private:
  void step_part(const llmrt_call_ctx& ctx, llmrt_tensor& params, const llmrt_tensor& grads, Out states, double lr,
                 double weight_decay, int64_t step);
  double beta1_ = 0, beta2_ = 0, eps_, weight_decay_;
};

// torch.optim.SGD (dampening 0, no Nesterov): weight decay is L2 added to the gradient; per
// tensor of the table like AdamW.
class Sgd : public Optimizer {
 public:
  static constexpr uint32_t kFlags = LLMRT_OPTIMIZER_PARAM_GROUPS;
  static std::vector<ConfigKey> config_keys();
  explicit Sgd(const ComponentArgs& args);
  std::vector<StateSpec> state_specs() override {
    if (momentum_ > 0) return {{"momentum_buffer"}};
    return {};
  }
  // params, grads, momentum_buffer (when momentum > 0): (n) flat fp32
  void step_params(const llmrt_call_ctx& ctx, const OptimizerStepArgs& args) override;

 private:
  // One tensor (or the flat buffers): (n) fp32 each
  void step_part(const llmrt_call_ctx& ctx, llmrt_tensor& params, const llmrt_tensor& grads, Out states, double lr,
                 double weight_decay);
  double momentum_, weight_decay_;
};

// The CUDA steps (optim_cuda.cpp): every pointer is device memory of CUDA ordinal ctx.device.index,
// queued on ctx.stream. Each checks the tensors (fp32, contiguous, on that device, n elements).
void adamw_step_cuda(const llmrt_call_ctx& ctx, llmrt_tensor& params, const llmrt_tensor& grads, Out states,
                     float lr, float beta1, float beta2, float eps, float weight_decay, int64_t step);
void sgd_step_cuda(const llmrt_call_ctx& ctx, llmrt_tensor& params, const llmrt_tensor& grads, Out states, float lr,
                   float momentum, float weight_decay);

}  // namespace llmrt::optim
