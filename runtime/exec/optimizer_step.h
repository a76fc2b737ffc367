// The optimizer and learning-rate schedule of one stage: their plugin instances, the state
// buffers the host allocates for the optimizer, global-norm clipping and the update itself.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "config/spec.h"
#include "plugin/plugin_calls.h"
#include "plugin/registry.h"
#include "util/status.h"

namespace llmrt {

class OptimizerStep {
 public:
  // Creates both components from [train]; `parameter_count` sizes the state buffers.
  static Result<OptimizerStep> create(const TrainSpec& train, const Registry& registry, std::size_t parameter_count);

  // The learning rate of optimizer step `step` (from 1) of `total_steps`.
  Result<double> learning_rate(std::int64_t step, std::int64_t total_steps) const;
  // Updates params from grads (both flat, same length) at `lr`.
  Status apply(std::span<float> params, std::span<const float> grads, double lr, std::int64_t step);

  double base_lr() const { return base_lr_; }
  std::vector<std::vector<float>>& states() { return states_; }

 private:
  OptimizerStep(ComponentInstance optimizer, ComponentInstance schedule, ResolvedConfig optimizer_config,
                ResolvedConfig schedule_config)
      : optimizer_config_(std::move(optimizer_config)), schedule_config_(std::move(schedule_config)),
        optimizer_(std::move(optimizer)), schedule_(std::move(schedule)) {}

  // Configs first: the instances were created from them and are destroyed before them.
  ResolvedConfig optimizer_config_, schedule_config_;
  ComponentInstance optimizer_, schedule_;
  std::vector<std::vector<float>> states_;  // one per state spec, each as long as the parameters
  double base_lr_ = 0;
};

// sqrt(sum of squares); with clip > 0 and a larger norm, scales grads down to norm `clip`.
// Returns the norm before clipping.
double clip_global_norm(std::span<float> grads, double clip);

}  // namespace llmrt
