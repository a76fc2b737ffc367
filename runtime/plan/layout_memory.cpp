// predict_rank_memory_gib: the memory stage of plan_layouts (sample the schedule, walk its
// action list, extrapolate to the layout's microbatches) for one fixed layout.
#include "plan/planner.h"
#include "plan/planner_stages.h"

namespace llmrt {

Result<std::vector<double>> predict_rank_memory_gib(const PlanRequest& request, const Layout& layout) {
  LLMRT_ASSIGN_OR_RETURN(const std::vector<LayerCost> costs, request.layer_costs(layout.tp, layout.microbatch_size));
  LLMRT_ASSIGN_OR_RETURN(const std::vector<ScheduleSample> samples, sample_schedule(request, layout, costs));
  const StageMemory memory = memory_at(samples, layout.microbatches, request.plan.workspace_gib);
  // Ranks are numbered tp fastest, then dp, then pp (layout.h): one pipeline stage's ranks are consecutive.
  std::vector<double> gib(static_cast<std::size_t>(layout.world_size()));
  const auto per_stage = static_cast<std::size_t>(layout.tp * layout.dp);
  for (std::size_t rank = 0; rank < gib.size(); ++rank) gib[rank] = memory.gib[rank / per_stage];
  return gib;
}

}  // namespace llmrt
