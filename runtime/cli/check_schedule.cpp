#include "cli/check_schedule.h"

#include <fmt/format.h>

#include "plan/layout.h"
#include "schedule/schedule_loader.h"

namespace llmrt {

Result<std::optional<PipelineShapeChoice>> fixed_pipeline_shape(const ParallelSpec& parallel, const TrainSpec& train,
                                                                 int device_count) {
  if (!parallel.pp.value) return std::optional<PipelineShapeChoice>();
  const int pp = *parallel.pp.value;
  std::optional<int> dp = parallel.dp.value;
  if (!dp && parallel.tp.value) dp = device_count / (pp * *parallel.tp.value);  // the rest is data parallel
  if (!dp) return std::optional<PipelineShapeChoice>();
  LLMRT_ASSIGN_OR_RETURN(const int microbatches, microbatches_per_replica(train, parallel.microbatch_size, *dp));
  return std::optional<PipelineShapeChoice>(PipelineShapeChoice{pp, microbatches, parallel.virtual_stages});
}

Result<std::string> check_pipeline_schedule(const Registry& registry, const ParallelSpec& parallel,
                                            const TrainSpec& train, int device_count) {
  LLMRT_ASSIGN_OR_RETURN(const Component* component,
                         registry.lookup(parallel.schedule, LLMRT_KIND_PIPELINE_SCHEDULE, "[parallel].schedule"));
  LLMRT_ASSIGN_OR_RETURN(auto shape_choice, fixed_pipeline_shape(parallel, train, device_count));
  if (!shape_choice) {
    return fmt::format("schedule {}: found ({}); verified once the planner fixes pp and dp\n", parallel.schedule,
                       component->plugin->path);
  }
  const PipelineShapeChoice& choice = *shape_choice;
  LLMRT_ASSIGN_OR_RETURN(
      VerifiedSchedule schedule,
      load_verified_schedule(registry, parallel.schedule,
                             ScheduleShape{choice.stages, choice.microbatches, choice.virtual_stages}));
  return fmt::format("schedule {}: verified for {} stages × {} microbatches × {} virtual stages "
                     "(deadlock-free, complete); peak in-flight microbatches per stage [{}]\n",
                     parallel.schedule, choice.stages, choice.microbatches, choice.virtual_stages,
                     fmt::join(schedule.report.peak_in_flight, ", "));
}

}  // namespace llmrt
