// The llmrt_optim plugin: AdamW and SGD with PyTorch's semantics, stepping the host's flat fp32
// buffers on the CPU (a CUDA build adds a device branch where require_cpu() refuses today).
#include <llmrt/plugin.hpp>

#include <cmath>
#include <string>

#include "cpu/kernels_cpu.h"

namespace llmrt::optim {
namespace {

namespace cpu = llmrt::kernels::cpu;

void require_cpu(const llmrt_call_ctx& ctx, const char* who) {
  if (ctx.device.type != LLMRT_DEVICE_CPU) {
    throw PluginError(std::string(who) + ": only fp32 on the CPU is implemented", LLMRT_UNIMPLEMENTED);
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

// torch.optim.AdamW: decoupled weight decay on every parameter, bias-corrected moments.
class AdamW : public Optimizer {
 public:
  static std::vector<ConfigKey> config_keys() {
    return {{"lr", LLMRT_KEY_FLOAT, "3e-4", "base learning rate (scaled by the lr schedule)"},
            {"betas", LLMRT_KEY_FLOAT_LIST, "[0.9, 0.999]", "decay rates (beta1, beta2) of the moment estimates"},
            {"eps", LLMRT_KEY_FLOAT, "1e-8", "added to sqrt(v_hat) in the denominator"},
            {"weight_decay", LLMRT_KEY_FLOAT, "0.0", "decoupled decay: p -= lr * weight_decay * p each step"}};
  }
  explicit AdamW(const ComponentArgs& args)
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
  std::vector<StateSpec> state_specs() override { return {{"m"}, {"v"}}; }
  // params, grads, states m and v: (n) flat
  void step(const llmrt_call_ctx& ctx, llmrt_tensor& params, const llmrt_tensor& grads, Out states, double lr,
            int64_t step) override {
    require_cpu(ctx, "adamw");
    expect_count(states.size(), 2, "adamw states (m, v)");
    if (step < 1) throw PluginError("adamw: step counts from 1, got " + std::to_string(step), LLMRT_INTERNAL);
    const int64_t n = numel(params);
    cpu::adamw_update(flat(params, n, "params"), flat(grads, n, "grads"), flat(states[0], n, "m"),
                      flat(states[1], n, "v"), size_t(n), float(lr), float(beta1_), float(beta2_), float(eps_),
                      float(weight_decay_), int(step));
  }

 private:
  double beta1_ = 0, beta2_ = 0, eps_, weight_decay_;
};

// torch.optim.SGD (dampening 0, no Nesterov): weight decay is L2 added to the gradient.
class Sgd : public Optimizer {
 public:
  static std::vector<ConfigKey> config_keys() {
    return {{"lr", LLMRT_KEY_FLOAT, "1e-3", "base learning rate (scaled by the lr schedule)"},
            {"momentum", LLMRT_KEY_FLOAT, "0.0", "momentum factor; > 0 keeps a momentum_buffer per parameter"},
            {"weight_decay", LLMRT_KEY_FLOAT, "0.0", "L2 penalty: weight_decay * p added to the gradient"}};
  }
  explicit Sgd(const ComponentArgs& args)
      : momentum_(args.config.get_float("momentum")), weight_decay_(args.config.get_float("weight_decay")) {
    require_non_negative(args.config.get_float("lr"), "lr");
    require_non_negative(momentum_, "momentum");
    require_non_negative(weight_decay_, "weight_decay");
  }
  std::vector<StateSpec> state_specs() override {
    if (momentum_ > 0) return {{"momentum_buffer"}};
    return {};
  }
  // params, grads, momentum_buffer (when momentum > 0): (n) flat
  void step(const llmrt_call_ctx& ctx, llmrt_tensor& params, const llmrt_tensor& grads, Out states, double lr,
            int64_t) override {
    require_cpu(ctx, "sgd");
    expect_count(states.size(), momentum_ > 0 ? 1 : 0, "sgd states");
    const int64_t n = numel(params);
    float* p = flat(params, n, "params");
    const float* g = flat(grads, n, "grads");
    // PyTorch starts the buffer as a copy of the first gradient; from a zero buffer,
    // momentum * 0 + g is the same value, so every step takes one formula.
    float* buffer = momentum_ > 0 ? flat(states[0], n, "momentum_buffer") : nullptr;
    const float rate = float(lr), decay = float(weight_decay_), momentum = float(momentum_);
    for (int64_t i = 0; i < n; ++i) {
      float d = g[i] + decay * p[i];
      if (buffer != nullptr) d = buffer[i] = momentum * buffer[i] + d;
      p[i] -= rate * d;
    }
  }

 private:
  double momentum_, weight_decay_;
};

}  // namespace
}  // namespace llmrt::optim

LLMRT_PLUGIN("llmrt-optim", "0.1.0") {
  registrar.add_optimizer<llmrt::optim::AdamW>("adamw", "0.1.0",
                                               "AdamW with decoupled weight decay (PyTorch semantics)");
  registrar.add_optimizer<llmrt::optim::Sgd>("sgd", "0.1.0",
                                             "SGD with momentum and L2 weight decay (PyTorch semantics)");
}
