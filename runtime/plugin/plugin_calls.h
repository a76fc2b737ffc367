// Calling registered components from the runtime: the one place that calls into a component's
// function table. Instances with RAII, count-then-fill queries as vectors, argument structs
// filled here, absent optional slots as their defaults, and plugin statuses turned into
// Errors that name the component.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <llmrt/plugin.h>

#include "plugin/component_config.h"
#include "plugin/registry.h"
#include "util/status.h"

namespace llmrt {

// Turns a status a component returned into an Error "<kind> '<name>' (<path>): <what>: <msg>".
// User-facing failures (LLMRT_INVALID_ARGUMENT) become input errors, others runtime errors.
Status check_component_call(llmrt_status* status, const Component& component, std::string_view what);

// A component instance (layer, optimizer, lr schedule), destroyed with its plugin's destroy.
class ComponentInstance {
 public:
  ComponentInstance(const Component& component, void* instance) : component_(&component), instance_(instance) {}
  ComponentInstance(ComponentInstance&& other) noexcept;
  ComponentInstance& operator=(ComponentInstance&& other) noexcept;
  ComponentInstance(const ComponentInstance&) = delete;
  ComponentInstance& operator=(const ComponentInstance&) = delete;
  ~ComponentInstance();

  void* get() const { return instance_; }
  const Component& component() const { return *component_; }

 private:
  void reset();
  const Component* component_;
  void* instance_;
};

Result<ComponentInstance> create_layer(const Component& component, const ResolvedConfig& config,
                                       const llmrt_layer_context& context);
Result<ComponentInstance> create_optimizer(const Component& component, const ResolvedConfig& config);
Result<ComponentInstance> create_lr_schedule(const Component& component, const ResolvedConfig& config);

// The tensors of one forward call (llmrt_forward_args without struct_size).
struct ForwardCall {
  std::span<const llmrt_tensor> in{};
  std::span<const llmrt_tensor> params{};
  std::span<llmrt_tensor> out{};
  std::span<std::byte> saved{};  // the microbatch's saved-state buffer
};

// The tensors of one backward call; backward_weight ignores grad_in.
struct BackwardCall {
  std::span<const llmrt_tensor> grad_out{};
  std::span<const llmrt_tensor> in{};
  std::span<const llmrt_tensor> params{};
  std::span<std::byte> saved{};
  std::span<llmrt_tensor> grad_in{};      // written
  std::span<llmrt_tensor> grad_params{};  // accumulated into
};

// The compute passes. `what` names the call in errors ("gpt.block[3] forward (microbatch 2)").
Status layer_forward(const ComponentInstance& layer, const llmrt_call_ctx& ctx, const ForwardCall& call,
                     std::string_view what);
Status layer_backward_input(const ComponentInstance& layer, const llmrt_call_ctx& ctx, const BackwardCall& call,
                            std::string_view what);
// Only for a component with has_backward_weight().
Status layer_backward_weight(const ComponentInstance& layer, const llmrt_call_ctx& ctx, const BackwardCall& call,
                             std::string_view what);
// False for a fused layer, whose backward_input also accumulated the weight gradients.
bool has_backward_weight(const Component& layer);

// The layer's cost hints for one microbatch of (batch, seq); all zeros when it gives none.
Result<llmrt_cost_hints> layer_cost_hints(const ComponentInstance& layer, std::int64_t batch, std::int64_t seq);
// Bytes of saved state per microbatch of (batch, seq); 0 when the layer keeps none.
Result<std::size_t> layer_saved_bytes(const ComponentInstance& layer, std::int64_t batch, std::int64_t seq);
// "" when the layer runs on devices of `device_type` with activations of `dtype`, else the
// layer's reason; a layer without the slot runs on the CPU with f32 only.
Result<std::string> layer_supports(const ComponentInstance& layer, std::int32_t device_type, std::int32_t dtype);

// One optimizer step over flat buffers of n elements; states as its state_specs; `table` the
// tensors in them (llmrt_optimizer_param; empty: the optimizer sees flat buffers only).
Status optimizer_step(const ComponentInstance& optimizer, const llmrt_call_ctx& ctx, llmrt_tensor& params,
                      const llmrt_tensor& grads, std::span<llmrt_tensor> states, double lr, std::int64_t step,
                      std::span<const llmrt_optimizer_param> table = {});
// The learning rate of optimizer step `step` (from 1) of `total_steps`.
Result<double> lr_schedule_lr_at(const ComponentInstance& schedule, std::int64_t step, std::int64_t total_steps,
                                 double base_lr);

// in: shapes and dtypes (data NULL); returns the output shapes.
Result<std::vector<llmrt_tensor>> layer_infer_shapes(const ComponentInstance& layer,
                                                     const std::vector<llmrt_tensor>& in);
// Names point into the instance and live as long as it does.
Result<std::vector<llmrt_param_spec>> layer_param_specs(const ComponentInstance& layer);
Result<std::vector<llmrt_state_spec>> optimizer_state_specs(const ComponentInstance& optimizer);

// Success, or an input error carrying the schedule's reason.
Status check_schedule_shape(const Component& schedule, const ResolvedConfig& config, const llmrt_schedule_shape& shape);
Result<std::vector<llmrt_action>> schedule_actions(const Component& schedule, const ResolvedConfig& config,
                                                   const llmrt_schedule_shape& shape, int rank);

}  // namespace llmrt
