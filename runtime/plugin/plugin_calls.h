// Calling registered components from the runtime: instances with RAII, count-then-fill queries
// as vectors, and plugin statuses turned into Errors that name the component.
#pragma once

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

// in: shapes and dtypes (data NULL); returns the output shapes.
Result<std::vector<llmrt_tensor>> layer_infer_shapes(const ComponentInstance& layer,
                                                     const std::vector<llmrt_tensor>& in);
// Names point into the instance and live as long as it does.
Result<std::vector<llmrt_param_spec>> layer_param_specs(const ComponentInstance& layer);
Result<std::vector<llmrt_state_spec>> optimizer_state_specs(const ComponentInstance& optimizer);

llmrt_schedule_shape schedule_shape(int stages, int microbatches, int virtual_stages);
// Success, or an input error carrying the schedule's reason.
Status check_schedule_shape(const Component& schedule, const ResolvedConfig& config, const llmrt_schedule_shape& shape);
Result<std::vector<llmrt_action>> schedule_actions(const Component& schedule, const ResolvedConfig& config,
                                                   const llmrt_schedule_shape& shape, int rank);

}  // namespace llmrt
