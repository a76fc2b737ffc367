#include "exec/optimizer_step.h"

#include <cmath>

#include "exec/model_layers.h"
#include "exec/param_store.h"

namespace llmrt {

Result<OptimizerStep> OptimizerStep::create(const TrainSpec& train, const Registry& registry,
                                            std::size_t parameter_count) {
  auto optimizer = registry.lookup(train.optimizer.component.value, LLMRT_KIND_OPTIMIZER,
                                   train.optimizer.component.pos.describe());
  if (!optimizer) return optimizer.error();
  auto schedule = registry.lookup(train.lr_schedule.component.value, LLMRT_KIND_LR_SCHEDULE,
                                  train.lr_schedule.component.pos.describe());
  if (!schedule) return schedule.error();
  auto optimizer_config = resolve_component_config(**optimizer, train.optimizer);
  if (!optimizer_config) return optimizer_config.error();
  auto schedule_config = resolve_component_config(**schedule, train.lr_schedule);
  if (!schedule_config) return schedule_config.error();
  auto base_lr = component_number(**optimizer, train.optimizer, "lr");
  if (!base_lr) return base_lr.error();
  auto optimizer_instance = create_optimizer(**optimizer, *optimizer_config);
  if (!optimizer_instance) return optimizer_instance.error();
  auto schedule_instance = create_lr_schedule(**schedule, *schedule_config);
  if (!schedule_instance) return schedule_instance.error();
  auto state_specs = optimizer_state_specs(*optimizer_instance);
  if (!state_specs) return state_specs.error();

  OptimizerStep step(std::move(*optimizer_instance), std::move(*schedule_instance), std::move(*optimizer_config),
                     std::move(*schedule_config));
  step.base_lr_ = *base_lr;
  for (const llmrt_state_spec& spec : *state_specs) {
    if (spec.dtype != LLMRT_DTYPE_F32) {
      return runtime_error("optimizer '{}': state '{}' is not fp32; the CPU store holds fp32 only",
                           (*optimizer)->name, spec.name);
    }
    step.states_.emplace_back(parameter_count, static_cast<float>(spec.init_value));
  }
  return step;
}

Result<double> OptimizerStep::learning_rate(std::int64_t step, std::int64_t total_steps) const {
  return lr_schedule_lr_at(schedule_, step, total_steps, base_lr_);
}

Status OptimizerStep::apply(std::span<float> params, std::span<const float> grads, double lr, std::int64_t step) {
  const std::vector<std::int64_t> shape = {static_cast<std::int64_t>(params.size())};
  llmrt_tensor param_tensor = cpu_tensor(params.data(), shape);
  llmrt_tensor grad_tensor = cpu_tensor(const_cast<float*>(grads.data()), shape);
  std::vector<llmrt_tensor> state_tensors;
  for (auto& state : states_) state_tensors.push_back(cpu_tensor(state.data(), shape));
  llmrt_call_ctx ctx{};
  ctx.struct_size = sizeof(ctx);
  ctx.device = llmrt_device{LLMRT_DEVICE_CPU, 0};
  ctx.tp_size = 1;
  return optimizer_step(optimizer_, ctx, param_tensor, grad_tensor, state_tensors, lr, step);
}

double clip_global_norm(std::span<float> grads, double clip) {
  double sum = 0;
  for (float g : grads) sum += static_cast<double>(g) * g;
  const double norm = std::sqrt(sum);
  if (clip > 0 && norm > clip) {
    const float scale = static_cast<float>(clip / (norm + 1e-6));
    for (float& g : grads) g *= scale;
  }
  return norm;
}

}  // namespace llmrt
