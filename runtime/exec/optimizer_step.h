// The optimizer and learning-rate schedule of one stage: their plugin instances, the state
// Buffers the host allocates for the optimizer (on the parameters' device) and the update.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "config/spec.h"
#include "device/buffer.h"
#include "exec/param_groups.h"
#include "plugin/plugin_calls.h"
#include "plugin/registry.h"
#include "util/status.h"

namespace llmrt {

// [train]'s optimizer and lr schedule as `run` will create them: their configs accepted by the
// plugins, and the learning rate sane — the optimizer's lr positive and finite, and, for a
// schedule that declares it, min_lr ≤ lr. `check` and `run` refuse the same things (exit 2),
// naming the key. (A warmup longer than the run is allowed, with a warning from open_job: a
// short smoke run of a real config shortens train.steps.)
Status check_optimizer_config(const TrainSpec& train, const Registry& registry);

class OptimizerStep {
 public:
  // Creates both components from [train]; `parameter_count` sizes the state buffers (under
  // ZeRO-1 this rank's shard of the parameters), which live on `device` (it must outlive the step).
  static Result<OptimizerStep> create(const TrainSpec& train, const Registry& registry, std::size_t parameter_count,
                                      ComputeDevice& device = cpu_device());

  // The learning rate of optimizer step `step` (from 1) of `total_steps`.
  Result<double> learning_rate(std::int64_t step, std::int64_t total_steps) const;
  // Updates params from grads at `lr`. params, grads: (parameter_count) f32 on the device.
  Status apply(Buffer& params, const Buffer& grads, double lr, std::int64_t step);
  // Updates `count` elements: params from element param_offset, grads and the states from
  // state_offset (ZeRO-1: the state Buffers hold this rank's pieces only). flat_offset is where
  // the range starts in the stage's flat parameter layout (what the parameter table is cut
  // from): param_offset itself unless params is a shard buffer (ZeRO-1's sharded master).
  Status apply_range(Buffer& params, std::size_t param_offset, const Buffer& grads, std::size_t state_offset,
                     std::size_t count, double lr, std::int64_t step, std::size_t flat_offset);
  std::size_t state_bytes() const;  // of every state Buffer together
  // The tensors in the flat buffers (exec/param_groups.h): each call gets the entries its range
  // covers. Without one the optimizer sees flat buffers only.
  void set_param_table(ParamTable table) { table_ = std::move(table); }
  const ParamTable& param_table() const { return table_; }

  double base_lr() const { return base_lr_; }
  std::vector<Buffer>& states() { return states_; }
  // [state] the optimizer's name for it ("exp_avg"): checkpoint tensor names end in it.
  const std::vector<std::string>& state_names() const { return state_names_; }

 private:
  OptimizerStep(ComponentInstance optimizer, ComponentInstance schedule, ResolvedConfig optimizer_config,
                ResolvedConfig schedule_config)
      : optimizer_config_(std::move(optimizer_config)), schedule_config_(std::move(schedule_config)),
        optimizer_(std::move(optimizer)), schedule_(std::move(schedule)) {}

  // Configs first: the instances were created from them and are destroyed before them.
  ResolvedConfig optimizer_config_, schedule_config_;
  ComponentInstance optimizer_, schedule_;
  std::vector<Buffer> states_;  // one per state spec: (parameter_count, or the shard's) f32 each
  std::vector<std::string> state_names_;
  ComputeDevice* device_ = &cpu_device();
  double base_lr_ = 0;
  ParamTable table_;
};

}  // namespace llmrt
