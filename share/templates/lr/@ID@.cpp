// @NAME@: linear warmup, then the inverse square root of the step ("Attention Is All You Need"),
// as an llmrt learning-rate schedule plugin (written by `llmrt plugins new`; make it yours).
// Stateless: the step number alone resumes it after a checkpoint.
#include <cmath>
#include <string>
#include <vector>

#include <llmrt/plugin.hpp>

namespace {

class @CLASS@ : public llmrt::LrSchedule {
 public:
  static std::vector<llmrt::ConfigKey> config_keys() {
    return {{"warmup_steps", LLMRT_KEY_INT, "100", "steps of linear warmup to base_lr (at least 1)"}};
  }

  explicit @CLASS@(const llmrt::ComponentArgs& args) : warmup_(args.config.get_int("warmup_steps")) {
    if (warmup_ < 1) throw llmrt::PluginError("@NAME@: warmup_steps must be >= 1, found " + std::to_string(warmup_));
  }

  // step counts from 1; base_lr is the optimizer's lr. base_lr at step == warmup_steps.
  double lr_at(int64_t step, int64_t, double base_lr) override {
    const double s = static_cast<double>(step), w = static_cast<double>(warmup_);
    return step <= warmup_ ? base_lr * s / w : base_lr * std::sqrt(w / s);
  }

 private:
  int64_t warmup_;
};

}  // namespace

LLMRT_PLUGIN("@NAME@", "0.1.0") {
  registrar.add_lr_schedule<@CLASS@>("@NAME@", "0.1.0", "linear warmup, then base_lr * sqrt(warmup / step)");
}
