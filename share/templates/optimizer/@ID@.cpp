// @NAME@: SGD with Nesterov momentum and decoupled weight decay, as an llmrt optimizer plugin
// (written by `llmrt plugins new`; make it yours). The host owns the parameters, gradients and
// the state buffers named in state_specs (allocated, initialised, checkpointed, sharded).
#include <string>
#include <vector>

#include <llmrt/plugin.hpp>

namespace {

class @CLASS@ : public llmrt::Optimizer {
 public:
  static std::vector<llmrt::ConfigKey> config_keys() {
    // By convention every optimizer declares lr: the base learning rate the lr schedule scales.
    return {{"lr", LLMRT_KEY_FLOAT, "0.01", "base learning rate (scaled by the lr schedule)"},
            {"momentum", LLMRT_KEY_FLOAT, "0.9", "decay of the velocity, in [0, 1)"},
            {"weight_decay", LLMRT_KEY_FLOAT, "0.0", "decoupled weight decay, scaled by lr"}};
  }

  explicit @CLASS@(const llmrt::ComponentArgs& args)
      : momentum_(static_cast<float>(args.config.get_float("momentum"))),
        weight_decay_(static_cast<float>(args.config.get_float("weight_decay"))) {
    if (!(momentum_ >= 0 && momentum_ < 1)) throw llmrt::PluginError("@NAME@: momentum must be in [0, 1)");
    if (!(weight_decay_ >= 0)) throw llmrt::PluginError("@NAME@: weight_decay must be >= 0");
  }

  std::vector<llmrt::StateSpec> state_specs() override { return {{"velocity", 0.0}}; }

  // params, grads, velocity: flat (n,) f32, this rank's share of the stage's parameters.
  // lr is the schedule's value for `step` (from 1).
  void step(const llmrt_call_ctx&, llmrt_tensor& params, const llmrt_tensor& grads, llmrt::Out states, double lr,
            int64_t) override {
    llmrt::expect_count(states.size(), 1, "@NAME@ states");
    float* p = llmrt::cpu_data<float>(params, "params");
    const float* g = llmrt::cpu_data<float>(grads, "grads");
    float* v = llmrt::cpu_data<float>(states[0], "velocity");
    const float rate = static_cast<float>(lr);
    for (int64_t i = 0, n = llmrt::numel(params); i < n; ++i) {
      v[i] = momentum_ * v[i] + g[i];
      p[i] -= rate * (g[i] + momentum_ * v[i] + weight_decay_ * p[i]);  // Nesterov: look one step ahead
    }
  }

 private:
  float momentum_, weight_decay_;
};

}  // namespace

LLMRT_PLUGIN("@NAME@", "0.1.0") {
  registrar.add_optimizer<@CLASS@>("@NAME@", "0.1.0", "SGD with Nesterov momentum and decoupled weight decay");
}
