#include "exec/optimizer_step.h"

#include <algorithm>
#include <cmath>

#include "exec/model_layers.h"
#include "exec/param_store.h"

namespace llmrt {
namespace {

// Where a component key was written, or the component's table when it takes its default.
std::string where_is(const ComponentSpec& spec, const std::string& key) {
  auto written = spec.params.find(key);
  return written != spec.params.end() ? written->second.pos.describe() : spec.pos.describe();
}

bool declares(const Component& component, const std::string& key) {
  return std::any_of(component.keys.begin(), component.keys.end(),
                     [&](const ConfigKeyDecl& declared) { return declared.name == key; });
}

Status check_learning_rate(const TrainSpec& train, const Component& schedule, double base_lr) {
  if (!std::isfinite(base_lr) || base_lr <= 0) {
    return input_error("{}: lr = {}: expected a positive, finite learning rate", where_is(train.optimizer, "lr"),
                       base_lr);
  }
  if (declares(schedule, "min_lr")) {
    LLMRT_ASSIGN_OR_RETURN(const double min_lr, component_number(schedule, train.lr_schedule, "min_lr"));
    if (!(min_lr <= base_lr)) {
      return input_error("{}: min_lr = {} is above the optimizer's lr = {}: the rate would climb as it decays",
                         where_is(train.lr_schedule, "min_lr"), min_lr, base_lr);
    }
  }
  return Status::success();
}

}  // namespace

Status check_optimizer_config(const TrainSpec& train, const Registry& registry) {
  // The rate first, so that a bad lr is named at its key whatever the plugin says of it; then
  // creating both (no parameters yet) runs every check their plugins make on their configs.
  LLMRT_ASSIGN_OR_RETURN(const Component* optimizer,
                         registry.lookup(train.optimizer.component.value, LLMRT_KIND_OPTIMIZER,
                                         train.optimizer.component.pos.describe()));
  LLMRT_ASSIGN_OR_RETURN(const Component* schedule,
                         registry.lookup(train.lr_schedule.component.value, LLMRT_KIND_LR_SCHEDULE,
                                         train.lr_schedule.component.pos.describe()));
  LLMRT_ASSIGN_OR_RETURN(const double base_lr, component_number(*optimizer, train.optimizer, "lr"));
  LLMRT_RETURN_IF_ERROR(check_learning_rate(train, *schedule, base_lr));
  const auto step = OptimizerStep::create(train, registry, 0);
  return step.ok() ? Status::success() : Status(step.error());
}

Result<OptimizerStep> OptimizerStep::create(const TrainSpec& train, const Registry& registry,
                                            std::size_t parameter_count, ComputeDevice& device) {
  LLMRT_ASSIGN_OR_RETURN(auto optimizer,
                         registry.lookup(train.optimizer.component.value, LLMRT_KIND_OPTIMIZER,
                                         train.optimizer.component.pos.describe()));
  LLMRT_ASSIGN_OR_RETURN(auto schedule,
                         registry.lookup(train.lr_schedule.component.value, LLMRT_KIND_LR_SCHEDULE,
                                         train.lr_schedule.component.pos.describe()));
  LLMRT_ASSIGN_OR_RETURN(auto optimizer_config, resolve_component_config(*optimizer, train.optimizer));
  LLMRT_ASSIGN_OR_RETURN(auto schedule_config, resolve_component_config(*schedule, train.lr_schedule));
  LLMRT_ASSIGN_OR_RETURN(auto base_lr, component_number(*optimizer, train.optimizer, "lr"));
  // A plugin's refusal of its config, at the table it came from.
  LLMRT_ASSIGN_OR_RETURN_CTX(auto optimizer_instance, create_optimizer(*optimizer, optimizer_config), "{}",
                             train.optimizer.pos.describe());
  LLMRT_ASSIGN_OR_RETURN_CTX(auto schedule_instance, create_lr_schedule(*schedule, schedule_config), "{}",
                             train.lr_schedule.pos.describe());
  LLMRT_ASSIGN_OR_RETURN(auto state_specs, optimizer_state_specs(optimizer_instance));

  OptimizerStep step(std::move(optimizer_instance), std::move(schedule_instance), std::move(optimizer_config),
                     std::move(schedule_config));
  step.base_lr_ = base_lr;
  step.device_ = &device;
  for (const llmrt_state_spec& spec : state_specs) {
    if (spec.dtype != LLMRT_DTYPE_F32) {
      return runtime_error("optimizer '{}': state '{}' is not fp32; the CPU store holds fp32 only",
                           optimizer->name, spec.name);
    }
    // Zeros on the device; other initial values are filled on the host and copied once (before
    // step 1 only), a transient host copy of the state's size.
    LLMRT_ASSIGN_OR_RETURN_CTX(Buffer state, Buffer::zeros(device, LLMRT_DTYPE_F32, parameter_count),
                               "optimizer state '{}'", spec.name);
    if (spec.init_value != 0) {
      const std::vector<float> initial(parameter_count, static_cast<float>(spec.init_value));
      LLMRT_RETURN_IF_ERROR(device.copy(state.data(), initial.data(), state.bytes(),
                                        copy_kind(cpu_device().id(), device.id()), nullptr));
    }
    step.states_.push_back(std::move(state));
    step.state_names_.emplace_back(spec.name);
  }
  return step;
}

Result<double> OptimizerStep::learning_rate(std::int64_t step, std::int64_t total_steps) const {
  return lr_schedule_lr_at(schedule_, step, total_steps, base_lr_);
}

Status OptimizerStep::apply(Buffer& params, const Buffer& grads, double lr, std::int64_t step) {
  return apply_range(params, 0, grads, 0, params.count(), lr, step, 0);
}

Status OptimizerStep::apply_range(Buffer& params, std::size_t param_offset, const Buffer& grads,
                                  std::size_t state_offset, std::size_t count, double lr, std::int64_t step,
                                  std::size_t flat_offset) {
  if (param_offset + count > params.count() || state_offset + count > grads.count()) {
    return runtime_error("optimizer update of {} elements at {} / {}: outside the {} parameters / {} gradients", count,
                         param_offset, state_offset, params.count(), grads.count());
  }
  const std::vector<std::int64_t> shape = {static_cast<std::int64_t>(count)};
  llmrt_tensor param_tensor = buffer_tensor(params, shape, param_offset);
  // The plugin reads grads only; the C ABI has no const tensor.
  llmrt_tensor grad_tensor = buffer_tensor(const_cast<Buffer&>(grads), shape, state_offset);
  std::vector<llmrt_tensor> state_tensors;
  for (Buffer& state : states_) state_tensors.push_back(buffer_tensor(state, shape, state_offset));
  llmrt_call_ctx ctx{};
  ctx.struct_size = sizeof(ctx);
  ctx.device = device_->id();
  ctx.tp_size = 1;
  const std::vector<llmrt_optimizer_param> table = table_.range(flat_offset, count);
  return optimizer_step(optimizer_, ctx, param_tensor, grad_tensor, state_tensors, lr, step, table);
}

std::size_t OptimizerStep::state_bytes() const {
  std::size_t bytes = 0;
  for (const Buffer& state : states_) bytes += state.bytes();
  return bytes;
}

}  // namespace llmrt
