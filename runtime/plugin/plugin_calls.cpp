// Thin wrappers over the component function tables, so the runtime never handles a raw
// llmrt_status or a count-then-fill protocol itself.
#include "plugin/plugin_calls.h"

#include <cassert>
#include <cstring>
#include <utility>

#include "plugin/component_checks.h"
#include "plugin/host_api.h"
#include "plugin/plugin_guard.h"

namespace llmrt {
namespace {

// A zeroed ABI struct with its struct_size set, as every output slot is handed to a plugin.
template <typename T>
T sized() {
  T value{};
  value.struct_size = sizeof(T);
  return value;
}

// Marks the process as inside `component`'s code for the crash, exit and time-out reports:
// "forward of layer 'gpt.block' (gpt.block[3] forward (microbatch 1))".
PluginCallScope guard(const Component& component, std::string_view call, std::string_view what = {},
                      int microbatch = -1) {
  return PluginCallScope(component.plugin->path, fmt::format("{} '{}'", kind_name(component.kind), component.name),
                         call, what == call ? std::string_view() : what, microbatch);
}

}  // namespace

Status check_component_call(llmrt_status* status, const Component& component, std::string_view what) {
  if (status == nullptr) return Status::success();
  const ErrorKind kind = plugin_status_code(status) == LLMRT_INVALID_ARGUMENT ? ErrorKind::kInput : ErrorKind::kRuntime;
  return take_plugin_status(status, fmt::format("{} '{}' ({}): {}", kind_name(component.kind), component.name,
                                                component.plugin->path, what), kind);
}

ComponentInstance::ComponentInstance(ComponentInstance&& other) noexcept
    : component_(other.component_), instance_(std::exchange(other.instance_, nullptr)) {}

ComponentInstance& ComponentInstance::operator=(ComponentInstance&& other) noexcept {
  if (this != &other) {
    reset();
    component_ = other.component_;
    instance_ = std::exchange(other.instance_, nullptr);
  }
  return *this;
}

ComponentInstance::~ComponentInstance() { reset(); }

void ComponentInstance::reset() {
  if (instance_ == nullptr) return;
  const PluginCallScope scope = guard(*component_, "destroy");
  switch (component_->kind) {
    case LLMRT_KIND_LAYER: component_->layer().destroy(instance_); break;
    case LLMRT_KIND_OPTIMIZER: component_->optimizer().destroy(instance_); break;
    case LLMRT_KIND_LR_SCHEDULE: component_->lr_schedule().destroy(instance_); break;
    default: break;
  }
  instance_ = nullptr;
}

Result<ComponentInstance> create_layer(const Component& component, const ResolvedConfig& config,
                                       const llmrt_layer_context& context) {
  void* instance = nullptr;
  llmrt_status* status = nullptr;
  {
    const PluginCallScope scope = guard(component, "create", fmt::format("layer index {}", context.layer_index));
    status = component.layer().create(plugin_host_api(), config.get(), &context, &instance);
  }
  LLMRT_RETURN_IF_ERROR(check_component_call(status, component, "create"));
  return ComponentInstance(component, instance);
}

Result<ComponentInstance> create_optimizer(const Component& component, const ResolvedConfig& config) {
  void* instance = nullptr;
  llmrt_status* status = nullptr;
  {
    const PluginCallScope scope = guard(component, "create");
    status = component.optimizer().create(plugin_host_api(), config.get(), &instance);
  }
  LLMRT_RETURN_IF_ERROR(check_component_call(status, component, "create"));
  return ComponentInstance(component, instance);
}

Result<ComponentInstance> create_lr_schedule(const Component& component, const ResolvedConfig& config) {
  void* instance = nullptr;
  llmrt_status* status = nullptr;
  {
    const PluginCallScope scope = guard(component, "create");
    status = component.lr_schedule().create(plugin_host_api(), config.get(), &instance);
  }
  LLMRT_RETURN_IF_ERROR(check_component_call(status, component, "create"));
  return ComponentInstance(component, instance);
}

Status layer_forward(const ComponentInstance& layer, const llmrt_call_ctx& ctx, const ForwardCall& call,
                     std::string_view what) {
  llmrt_forward_args args = sized<llmrt_forward_args>();
  args.in = call.in.data();
  args.in_count = call.in.size();
  args.params = call.params.data();
  args.param_count = call.params.size();
  args.out = call.out.data();
  args.out_count = call.out.size();
  args.saved = call.saved.data();
  args.saved_bytes = call.saved.size();
  const Component& component = layer.component();
  const PluginCallScope scope = guard(component, "forward", what, ctx.microbatch);
  return check_component_call(component.layer().forward(layer.get(), &ctx, &args), component, what);
}

namespace {

// The fields both backward passes share (llmrt_backward_input_args, llmrt_backward_weight_args).
template <typename Args>
Args backward_args(const BackwardCall& call) {
  Args args = sized<Args>();
  args.grad_out = call.grad_out.data();
  args.grad_out_count = call.grad_out.size();
  args.in = call.in.data();
  args.in_count = call.in.size();
  args.params = call.params.data();
  args.param_count = call.params.size();
  args.saved = call.saved.data();
  args.saved_bytes = call.saved.size();
  args.grad_params = call.grad_params.data();
  args.grad_param_count = call.grad_params.size();
  return args;
}

}  // namespace

Status layer_backward_input(const ComponentInstance& layer, const llmrt_call_ctx& ctx, const BackwardCall& call,
                            std::string_view what) {
  auto args = backward_args<llmrt_backward_input_args>(call);
  args.grad_in = call.grad_in.data();
  args.grad_in_count = call.grad_in.size();
  const Component& component = layer.component();
  const PluginCallScope scope = guard(component, "backward_input", what, ctx.microbatch);
  return check_component_call(component.layer().backward_input(layer.get(), &ctx, &args), component, what);
}

Status layer_backward_weight(const ComponentInstance& layer, const llmrt_call_ctx& ctx, const BackwardCall& call,
                             std::string_view what) {
  const Component& component = layer.component();
  assert(has_backward_weight(component));
  const auto args = backward_args<llmrt_backward_weight_args>(call);
  const PluginCallScope scope = guard(component, "backward_weight", what, ctx.microbatch);
  return check_component_call(component.layer().backward_weight(layer.get(), &ctx, &args), component, what);
}

bool has_backward_weight(const Component& layer) { return layer.layer().backward_weight != nullptr; }

Result<llmrt_cost_hints> layer_cost_hints(const ComponentInstance& layer, std::int64_t batch, std::int64_t seq) {
  llmrt_cost_hints hints = sized<llmrt_cost_hints>();
  const Component& component = layer.component();
  if (component.layer().cost_hints == nullptr) return hints;
  const PluginCallScope scope = guard(component, "cost_hints");
  LLMRT_RETURN_IF_ERROR(check_component_call(component.layer().cost_hints(layer.get(), batch, seq, &hints),
                                             component, "cost_hints"));
  return hints;
}

Result<std::size_t> layer_saved_bytes(const ComponentInstance& layer, std::int64_t batch, std::int64_t seq) {
  std::size_t bytes = 0;
  const Component& component = layer.component();
  if (component.layer().saved_bytes == nullptr) return bytes;
  const PluginCallScope scope = guard(component, "saved_bytes");
  LLMRT_RETURN_IF_ERROR(check_component_call(component.layer().saved_bytes(layer.get(), batch, seq, &bytes),
                                             component, "saved_bytes"));
  return bytes;
}

Result<std::string> layer_supports(const ComponentInstance& layer, std::int32_t device_type, std::int32_t dtype) {
  const Component& component = layer.component();
  if (component.layer().supports == nullptr) {
    if (device_type == LLMRT_DEVICE_CPU && dtype == LLMRT_DTYPE_F32) return std::string();
    return std::string("it declares no supports() (the default: the CPU with f32 activations only)");
  }
  const PluginCallScope scope = guard(component, "supports");
  llmrt_status* status = component.layer().supports(layer.get(), llmrt_device{device_type, 0}, dtype);
  if (status == nullptr) return std::string();
  // "Not supported" is an answer, not a failure: its message is the reason.
  if (plugin_status_code(status) != LLMRT_UNIMPLEMENTED) {
    return check_component_call(status, component, "supports").error();
  }
  const OwnedPluginStatus answer(status);
  return plugin_status_message(answer.get());
}

Status optimizer_step(const ComponentInstance& optimizer, const llmrt_call_ctx& ctx, llmrt_tensor& params,
                      const llmrt_tensor& grads, std::span<llmrt_tensor> states, double lr, std::int64_t step,
                      std::span<const llmrt_optimizer_param> table) {
  llmrt_optimizer_step_args args = sized<llmrt_optimizer_step_args>();
  args.param_table = table.empty() ? nullptr : table.data();
  args.param_count = table.size();
  args.params = &params;
  args.grads = &grads;
  args.states = states.data();
  args.state_count = states.size();
  args.lr = lr;
  args.step = step;
  const Component& component = optimizer.component();
  const PluginCallScope scope = guard(component, "step", fmt::format("step {}", step));
  return check_component_call(component.optimizer().step(optimizer.get(), &ctx, &args), component, "step");
}

Result<double> lr_schedule_lr_at(const ComponentInstance& schedule, std::int64_t step, std::int64_t total_steps,
                                 double base_lr) {
  double lr = 0;
  const Component& component = schedule.component();
  const PluginCallScope scope = guard(component, "lr_at");
  LLMRT_RETURN_IF_ERROR(check_component_call(
      component.lr_schedule().lr_at(schedule.get(), step, total_steps, base_lr, &lr), component, "lr_at"));
  return lr;
}

Result<std::vector<llmrt_tensor>> layer_infer_shapes(const ComponentInstance& layer,
                                                     const std::vector<llmrt_tensor>& in) {
  const Component& component = layer.component();
  const auto& table = component.layer();
  const PluginCallScope scope = guard(component, "infer_shapes");
  std::size_t count = 0;
  LLMRT_RETURN_IF_ERROR(check_component_call(table.infer_shapes(layer.get(), in.data(), in.size(), nullptr, 0, &count),
                                             component, "infer_shapes"));
  std::vector<llmrt_tensor> out(count, sized<llmrt_tensor>());
  LLMRT_RETURN_IF_ERROR(check_component_call(
      table.infer_shapes(layer.get(), in.data(), in.size(), out.data(), out.size(), &count), component, "infer_shapes"));
  out.resize(std::min(count, out.size()));
  return out;
}

Result<std::vector<llmrt_param_spec>> layer_param_specs(const ComponentInstance& layer) {
  const Component& component = layer.component();
  const PluginCallScope scope = guard(component, "param_specs");
  std::size_t count = 0;
  LLMRT_RETURN_IF_ERROR(check_component_call(component.layer().param_specs(layer.get(), nullptr, 0, &count),
                                             component, "param_specs"));
  std::vector<llmrt_param_spec> filled(count, sized<llmrt_param_spec>());
  LLMRT_RETURN_IF_ERROR(check_component_call(
      component.layer().param_specs(layer.get(), filled.data(), filled.size(), &count), component, "param_specs"));
  filled.resize(std::min(count, filled.size()));
  // A plugin built before llmrt_param_spec gained flags writes its array at its own, shorter
  // stride (each element's struct_size): read it at that stride, the fields it lacks zero.
  const std::size_t stride = filled.empty() ? sizeof(llmrt_param_spec) : filled.front().struct_size;
  if (stride >= sizeof(llmrt_param_spec) || stride < LLMRT_STRUCT_SIZE(llmrt_param_spec, tie_name)) return filled;
  std::vector<llmrt_param_spec> specs(filled.size(), llmrt_param_spec{});
  const auto* bytes = reinterpret_cast<const unsigned char*>(filled.data());
  for (std::size_t i = 0; i < specs.size(); ++i) std::memcpy(&specs[i], bytes + i * stride, stride);
  return specs;
}

Result<std::vector<llmrt_state_spec>> optimizer_state_specs(const ComponentInstance& optimizer) {
  const Component& component = optimizer.component();
  const auto& table = component.optimizer();
  if (table.state_specs == nullptr) return std::vector<llmrt_state_spec>{};
  const PluginCallScope scope = guard(component, "state_specs");
  std::size_t count = 0;
  LLMRT_RETURN_IF_ERROR(check_component_call(table.state_specs(optimizer.get(), nullptr, 0, &count), component,
                                             "state_specs"));
  std::vector<llmrt_state_spec> specs(count, sized<llmrt_state_spec>());
  LLMRT_RETURN_IF_ERROR(check_component_call(table.state_specs(optimizer.get(), specs.data(), specs.size(), &count),
                                             component, "state_specs"));
  specs.resize(std::min(count, specs.size()));
  return specs;
}

Status check_schedule_shape(const Component& schedule, const ResolvedConfig& config, const llmrt_schedule_shape& shape) {
  const auto& table = schedule.pipeline_schedule();
  if (table.check_shape == nullptr) return Status::success();
  const PluginCallScope scope = guard(schedule, "check_shape");
  llmrt_status* status = table.check_shape(config.get(), &shape);
  if (status == nullptr) return Status::success();
  // A rejected shape is the user's choice of pp/microbatches, whatever code the plugin used.
  return take_plugin_status(status, fmt::format("pipeline schedule '{}' cannot run {} stages x {} microbatches x {} "
                                                "virtual stages", schedule.name, shape.stages, shape.microbatches,
                                                shape.virtual_stages), ErrorKind::kInput);
}

Result<std::vector<llmrt_action>> schedule_actions(const Component& schedule, const ResolvedConfig& config,
                                                   const llmrt_schedule_shape& shape, int rank) {
  const auto& table = schedule.pipeline_schedule();
  const PluginCallScope scope = guard(schedule, "actions", fmt::format("rank {}", rank));
  std::size_t count = 0;
  LLMRT_RETURN_IF_ERROR(check_component_call(table.actions(config.get(), &shape, rank, nullptr, 0, &count), schedule,
                                             "actions"));
  std::vector<llmrt_action> actions(count);
  LLMRT_RETURN_IF_ERROR(check_component_call(table.actions(config.get(), &shape, rank, actions.data(), actions.size(),
                                                           &count), schedule, "actions"));
  actions.resize(std::min(count, actions.size()));
  return actions;
}

}  // namespace llmrt
