#include "exec/model_plan.h"

#include "exec/model_layers.h"
#include "exec/trainer.h"

namespace llmrt {

Result<ModelPlan> plan_model(const Spec& spec, const Registry& registry, Layout layout) {
  const int layer_count = static_cast<int>(expand_layers(spec.model).size());
  const llmrt_layer_context context{sizeof(llmrt_layer_context), 0, layout.tp, LLMRT_DTYPE_F32, 0, LLMRT_RECOMPUTE_NONE};
  LLMRT_ASSIGN_OR_RETURN(auto layers, create_layers(spec.model, registry, 0, layer_count, context));
  ModelPlan plan;
  for (const LayerSlot& slot : layers) {
    LLMRT_ASSIGN_OR_RETURN(auto cost, layer_flops(slot, layout.microbatch_size, spec.model.seq_len.value));
    plan.layer_flops.push_back(cost);
  }
  // Equal speeds: a caller that knows the devices sets [parallel].stage_layers from
  // plan_stage_layers (plan/planner.h) first, so the run builds the planner's split.
  LLMRT_ASSIGN_OR_RETURN(layout.stage_layers,
                         partition_layers(spec.parallel, plan.layer_flops, {}, layout.pp, layout.virtual_stages));
  int virtual_stage = 0, remaining = layout.stage_layers.front();
  for (const LayerSlot& slot : layers) {
    while (remaining == 0) remaining = layout.stage_layers.at(static_cast<std::size_t>(++virtual_stage));
    --remaining;
    for (const llmrt_param_spec& spec_entry : slot.params) {
      if (spec_entry.tie_name) plan.tie_stages[spec_entry.tie_name].insert(virtual_stage % layout.pp);
    }
  }
  plan.layout = std::move(layout);
  return plan;
}

}  // namespace llmrt
