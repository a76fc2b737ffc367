// The llmrt_lr plugin: learning-rate schedules as pure functions of (step, total_steps, base_lr),
// steps counted from 1. Stateless: the step number alone resumes them after a checkpoint.
#include <llmrt/plugin.hpp>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>

namespace llmrt::lr {
namespace {

int64_t non_negative_int(const ComponentConfig& config, const char* key) {
  const int64_t value = config.get_int(key);
  if (value < 0) throw PluginError(std::string(key) + " must be >= 0, found " + std::to_string(value));
  return value;
}

double non_negative_float(const ComponentConfig& config, const char* key) {
  const double value = config.get_float(key);
  if (!(value >= 0)) throw PluginError(std::string(key) + " must be >= 0, found " + std::to_string(value));
  return value;
}

// Linear warmup shared by cosine and wsd: base * step / warmup, reaching base at step == warmup.
double warmup_lr(int64_t step, int64_t warmup, double base) { return base * double(step) / double(warmup); }

class Constant : public LrSchedule {
 public:
  explicit Constant(const ComponentArgs&) {}
  double lr_at(int64_t, int64_t, double base_lr) override { return base_lr; }
};

// nanoGPT's get_lr with steps from 1: warmup, then half a cosine from base_lr down to min_lr,
// reached at total_steps and held after.
class Cosine : public LrSchedule {
 public:
  static std::vector<ConfigKey> config_keys() {
    return {{"warmup_steps", LLMRT_KEY_INT, "0", "steps of linear warmup from base_lr / warmup_steps to base_lr"},
            {"min_lr", LLMRT_KEY_FLOAT, "0.0", "learning rate at total_steps and after"}};
  }
  explicit Cosine(const ComponentArgs& args)
      : warmup_(non_negative_int(args.config, "warmup_steps")), min_lr_(non_negative_float(args.config, "min_lr")) {}
  double lr_at(int64_t step, int64_t total, double base_lr) override {
    if (step <= warmup_) return warmup_lr(step, warmup_, base_lr);
    if (step >= total) return min_lr_;
    const double ratio = double(step - warmup_) / double(total - warmup_);
    const double coeff = 0.5 * (1.0 + std::cos(std::numbers::pi * ratio));
    return min_lr_ + coeff * (base_lr - min_lr_);
  }

 private:
  int64_t warmup_;
  double min_lr_;
};

// Warmup-stable-decay: warmup, base_lr held, then a linear decay to min_lr over the last
// decay_steps, reaching min_lr at total_steps.
class Wsd : public LrSchedule {
 public:
  static std::vector<ConfigKey> config_keys() {
    return {{"warmup_steps", LLMRT_KEY_INT, "0", "steps of linear warmup from base_lr / warmup_steps to base_lr"},
            {"decay_steps", LLMRT_KEY_INT, "0", "length of the final linear decay; 0 means 10% of total_steps"},
            {"min_lr", LLMRT_KEY_FLOAT, "0.0", "learning rate at total_steps and after"}};
  }
  explicit Wsd(const ComponentArgs& args)
      : warmup_(non_negative_int(args.config, "warmup_steps")),
        decay_(non_negative_int(args.config, "decay_steps")),
        min_lr_(non_negative_float(args.config, "min_lr")) {}
  double lr_at(int64_t step, int64_t total, double base_lr) override {
    if (step <= warmup_) return warmup_lr(step, warmup_, base_lr);
    if (step >= total) return min_lr_;
    const int64_t decay = decay_ > 0 ? decay_ : std::max<int64_t>(1, total / 10);
    const int64_t decay_start = std::max(warmup_, total - decay);  // decay never eats the warmup
    if (step <= decay_start) return base_lr;
    const double progress = double(step - decay_start) / double(total - decay_start);
    return base_lr + (min_lr_ - base_lr) * progress;
  }

 private:
  int64_t warmup_, decay_;
  double min_lr_;
};

}  // namespace
}  // namespace llmrt::lr

LLMRT_PLUGIN("llmrt-lr", "0.1.0") {
  registrar.add_lr_schedule<llmrt::lr::Constant>("constant", "0.1.0", "base_lr at every step");
  registrar.add_lr_schedule<llmrt::lr::Cosine>("cosine", "0.1.0", "linear warmup, cosine decay to min_lr (nanoGPT)");
  registrar.add_lr_schedule<llmrt::lr::Wsd>("wsd", "0.1.0", "warmup, stable, linear decay to min_lr");
}
