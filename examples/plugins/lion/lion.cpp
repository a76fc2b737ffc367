// Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms") as an llmrt optimizer
// plugin: the update is the sign of an interpolated momentum, so it keeps one state buffer.
#include <llmrt/plugin.hpp>

namespace {

class Lion : public llmrt::Optimizer {
 public:
  static std::vector<llmrt::ConfigKey> config_keys() {
    return {{"lr", LLMRT_KEY_FLOAT, "1e-4", "base learning rate (scaled by the lr schedule)"},
            {"beta1", LLMRT_KEY_FLOAT, "0.9", "interpolation between momentum and gradient for the update"},
            {"beta2", LLMRT_KEY_FLOAT, "0.99", "decay of the momentum"},
            {"weight_decay", LLMRT_KEY_FLOAT, "0.0", "decoupled weight decay, scaled by lr"}};
  }

  explicit Lion(const llmrt::ComponentArgs& args)
      : beta1_(static_cast<float>(args.config.get_float("beta1"))),
        beta2_(static_cast<float>(args.config.get_float("beta2"))),
        weight_decay_(static_cast<float>(args.config.get_float("weight_decay"))) {
    if (beta1_ < 0 || beta1_ >= 1 || beta2_ < 0 || beta2_ >= 1) {
      throw llmrt::PluginError("lion: beta1 and beta2 must be in [0, 1)");
    }
  }

  std::vector<llmrt::StateSpec> state_specs() override { return {{"momentum", 0.0}}; }

  // params, grads, momentum: flat (n,) f32
  void step(const llmrt_call_ctx&, llmrt_tensor& params, const llmrt_tensor& grads, llmrt::Out states, double lr,
            int64_t) override {
    llmrt::expect_count(states.size(), 1, "lion states");
    float* p = llmrt::cpu_data<float>(params, "params");
    const float* g = llmrt::cpu_data<float>(grads, "grads");
    float* m = llmrt::cpu_data<float>(states[0], "momentum");
    const float step_size = static_cast<float>(lr);
    for (int64_t i = 0, n = llmrt::numel(params); i < n; ++i) {
      const float c = beta1_ * m[i] + (1 - beta1_) * g[i];
      const float sign = static_cast<float>((c > 0) - (c < 0));
      p[i] -= step_size * (sign + weight_decay_ * p[i]);
      m[i] = beta2_ * m[i] + (1 - beta2_) * g[i];
    }
  }

 private:
  float beta1_, beta2_, weight_decay_;
};

}  // namespace

LLMRT_PLUGIN("lion-example", "0.1.0") {
  registrar.add_optimizer<Lion>("example.lion", "0.1.0", "Lion: sign of interpolated momentum");
}
