#include "plan/predicted_timeline.h"

#include "plan/planner_stages.h"

namespace llmrt {

Result<PredictedStep> predict_step_timeline(const PlanRequest& request, const Layout& layout) {
  LLMRT_ASSIGN_OR_RETURN(auto costs, request.layer_costs(layout.tp, layout.microbatch_size));
  LLMRT_ASSIGN_OR_RETURN(auto schedule,
                         request.schedule_source(layout.schedule,
                                                 ScheduleShape{layout.pp, layout.microbatches, layout.virtual_stages}));
  const std::vector<std::vector<llmrt_action>>& actions = schedule->actions;
  const PlacedDegrees placed =
      place_and_describe(*request.topology, Degrees{layout.pp, layout.tp, layout.dp},
                         request.train.precision, request.plan.compute_efficiency, request.plan.network_efficiency);
  const StageMemory memory = estimate_stage_memory(layout, costs, actions, request.train, request.plan.workspace_gib);
  StepCosts step = estimate_step_costs(layout, costs, placed, memory, request.train);
  estimate_tie_allreduce(layout, costs, placed, *request.topology, request.train, request.plan.network_efficiency,
                         step);
  LLMRT_ASSIGN_OR_RETURN(auto timeline, simulate_step(layout, actions, step, placed));
  return PredictedStep{std::move(timeline), step.dp_allreduce_s, step.tie_allreduce_s, step.optimizer_s};
}

}  // namespace llmrt
