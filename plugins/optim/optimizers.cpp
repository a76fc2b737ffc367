// AdamW and SGD: config, and the step on the CPU; the CUDA branch is in optim_cuda.cpp.
#include "optim/optimizers.h"

#include <cmath>
#include <string>

#include "cpu/kernels_cpu.h"

namespace llmrt::optim {
namespace {

namespace cpu = llmrt::kernels::cpu;

// The CPU path's guard: CUDA goes to its branch first in builds that have one.
void require_cpu(const llmrt_call_ctx& ctx, const char* who) {
  if (ctx.device.type != LLMRT_DEVICE_CPU) {
    throw PluginError(std::string(who) + ": device type " + std::to_string(ctx.device.type) +
                          (ctx.device.type == LLMRT_DEVICE_CUDA ? " (CUDA) needs a plugin built with CUDA"
                                                                : " has no implementation"),
                      LLMRT_UNIMPLEMENTED);
  }
}

// A flat buffer of exactly `n` fp32 elements (a state buffer, or grads beside params).
float* flat(const llmrt_tensor& tensor, int64_t n, const std::string& what) {
  if (numel(tensor) != n) {
    throw PluginError(what + ": expected " + std::to_string(n) + " elements, got " + std::to_string(numel(tensor)),
                      LLMRT_INTERNAL);
  }
  return cpu_data<float>(tensor, what);
}

void require_non_negative(double value, const char* key) {
  if (!(value >= 0)) throw PluginError(std::string(key) + " must be >= 0, found " + std::to_string(value));
}

}  // namespace

std::vector<ConfigKey> AdamW::config_keys() {
  return {{"lr", LLMRT_KEY_FLOAT, "3e-4", "base learning rate (scaled by the lr schedule)"},
          {"betas", LLMRT_KEY_FLOAT_LIST, "[0.9, 0.999]", "decay rates (beta1, beta2) of the moment estimates"},
          {"eps", LLMRT_KEY_FLOAT, "1e-8", "added to sqrt(v_hat) in the denominator"},
          {"weight_decay", LLMRT_KEY_FLOAT, "0.0", "decoupled decay: p -= lr * weight_decay * p each step (none on 1-D and no-decay tensors unless a param group sets it)"}};
}

AdamW::AdamW(const ComponentArgs& args)
    : eps_(args.config.get_float("eps")), weight_decay_(args.config.get_float("weight_decay")) {
  require_non_negative(args.config.get_float("lr"), "lr");
  std::vector<double> betas = args.config.get_floats("betas");
  if (betas.size() != 2) throw PluginError("betas must hold 2 values, found " + std::to_string(betas.size()));
  for (double beta : betas) {
    if (!(beta >= 0 && beta < 1)) throw PluginError("betas must lie in [0, 1), found " + std::to_string(beta));
  }
  beta1_ = betas[0], beta2_ = betas[1];
  if (!(eps_ > 0)) throw PluginError("eps must be positive, found " + std::to_string(eps_));
  require_non_negative(weight_decay_, "weight_decay");
}

void AdamW::step_params(const llmrt_call_ctx& ctx, const OptimizerStepArgs& args) {
  expect_count(args.states.size(), 2, "adamw states (m, v)");
  if (args.step < 1) throw PluginError("adamw: step counts from 1, got " + std::to_string(args.step), LLMRT_INTERNAL);
  for_each_part(args, weight_decay_, [&](llmrt_tensor& params, const llmrt_tensor& grads, Out states, double lr,
                                         double weight_decay) {
    step_part(ctx, params, grads, states, lr, weight_decay, args.step);
  });
}

void AdamW::step_part(const llmrt_call_ctx& ctx, llmrt_tensor& params, const llmrt_tensor& grads, Out states,
                      double lr, double weight_decay, int64_t step) {
#if LLMRT_HAVE_CUDA
  if (ctx.device.type == LLMRT_DEVICE_CUDA) {
    return adamw_step_cuda(ctx, params, grads, states, float(lr), float(beta1_), float(beta2_), float(eps_),
                           float(weight_decay), step);
  }
#endif
  require_cpu(ctx, "adamw");
  const int64_t n = numel(params);
  cpu::adamw_update(flat(params, n, "params"), flat(grads, n, "grads"), flat(states[0], n, "m"),
                    flat(states[1], n, "v"), size_t(n), float(lr), float(beta1_), float(beta2_), float(eps_),
                    float(weight_decay), int(step));
}

std::vector<ConfigKey> Sgd::config_keys() {
  return {{"lr", LLMRT_KEY_FLOAT, "1e-3", "base learning rate (scaled by the lr schedule)"},
          {"momentum", LLMRT_KEY_FLOAT, "0.0", "momentum factor; > 0 keeps a momentum_buffer per parameter"},
          {"weight_decay", LLMRT_KEY_FLOAT, "0.0", "L2 penalty: weight_decay * p added to the gradient"}};
}

Sgd::Sgd(const ComponentArgs& args)
    : momentum_(args.config.get_float("momentum")), weight_decay_(args.config.get_float("weight_decay")) {
  require_non_negative(args.config.get_float("lr"), "lr");
  require_non_negative(momentum_, "momentum");
  require_non_negative(weight_decay_, "weight_decay");
}

void Sgd::step_params(const llmrt_call_ctx& ctx, const OptimizerStepArgs& args) {
  expect_count(args.states.size(), momentum_ > 0 ? 1 : 0, "sgd states");
  for_each_part(args, weight_decay_, [&](llmrt_tensor& params, const llmrt_tensor& grads, Out states, double lr,
                                         double weight_decay) { step_part(ctx, params, grads, states, lr, weight_decay); });
}

void Sgd::step_part(const llmrt_call_ctx& ctx, llmrt_tensor& params, const llmrt_tensor& grads, Out states, double lr,
                    double weight_decay) {
#if LLMRT_HAVE_CUDA
  if (ctx.device.type == LLMRT_DEVICE_CUDA) {
    return sgd_step_cuda(ctx, params, grads, states, float(lr), float(momentum_), float(weight_decay));
  }
#endif
  require_cpu(ctx, "sgd");
  const int64_t n = numel(params);
  float* p = flat(params, n, "params");
  const float* g = flat(grads, n, "grads");
  // PyTorch starts the buffer as a copy of the first gradient; from a zero buffer,
  // momentum * 0 + g is the same value, so every step takes one formula.
  float* buffer = momentum_ > 0 ? flat(states[0], n, "momentum_buffer") : nullptr;
  const float rate = float(lr), decay = float(weight_decay), momentum = float(momentum_);
  for (int64_t i = 0; i < n; ++i) {
    float d = g[i] + decay * p[i];
    if (buffer != nullptr) d = buffer[i] = momentum * buffer[i] + d;
    p[i] -= rate * d;
  }
}

}  // namespace llmrt::optim
