#include "cli/check_schedule.h"

#include <fmt/format.h>

#include "plugin/plugin_calls.h"
#include "schedule/verifier.h"

namespace llmrt {

Result<std::optional<PipelineShapeChoice>> fixed_pipeline_shape(const ParallelSpec& parallel, const TrainSpec& train,
                                                                 int device_count) {
  if (!parallel.pp.value) return std::optional<PipelineShapeChoice>();
  const int pp = *parallel.pp.value;
  std::optional<int> dp = parallel.dp.value;
  if (!dp && parallel.tp.value) dp = device_count / (pp * *parallel.tp.value);  // the rest is data parallel
  if (!dp) return std::optional<PipelineShapeChoice>();
  const std::int64_t per_step = static_cast<std::int64_t>(parallel.microbatch_size) * *dp;
  if (train.global_batch.value % per_step != 0) {
    return input_error("{}: global_batch = {} is not a multiple of microbatch_size × dp = {} × {}",
                       train.global_batch.pos.describe(), train.global_batch.value, parallel.microbatch_size, *dp);
  }
  return std::optional<PipelineShapeChoice>(
      PipelineShapeChoice{pp, static_cast<int>(train.global_batch.value / per_step), parallel.virtual_stages});
}

Result<std::string> check_pipeline_schedule(const Registry& registry, const ParallelSpec& parallel,
                                            const TrainSpec& train, int device_count) {
  auto component = registry.lookup(parallel.schedule, LLMRT_KIND_PIPELINE_SCHEDULE, "[parallel].schedule");
  if (!component) return component.error();
  auto config = resolve_default_config(**component);
  if (!config) return config.error();
  auto shape_choice = fixed_pipeline_shape(parallel, train, device_count);
  if (!shape_choice) return shape_choice.error();
  if (!*shape_choice) {
    return fmt::format("schedule {}: found ({}); verified once the planner fixes pp and dp\n", parallel.schedule,
                       (*component)->plugin->path);
  }
  const PipelineShapeChoice& choice = **shape_choice;
  const llmrt_schedule_shape shape = schedule_shape(choice.stages, choice.microbatches, choice.virtual_stages);
  LLMRT_RETURN_IF_ERROR(check_schedule_shape(**component, *config, shape));
  std::vector<std::vector<llmrt_action>> per_rank;
  for (int rank = 0; rank < choice.stages; ++rank) {
    auto actions = schedule_actions(**component, *config, shape, rank);
    if (!actions) return actions.error();
    per_rank.push_back(std::move(*actions));
  }
  const ScheduleShape verify_shape{choice.stages, choice.microbatches, choice.virtual_stages};
  auto report = verify_schedule(verify_shape, per_rank);
  if (!report) {
    return report.error().with_context(fmt::format("schedule '{}' ({}) for {} stages, {} microbatches",
                                                   parallel.schedule, (*component)->plugin->path, choice.stages,
                                                   choice.microbatches));
  }
  return fmt::format("schedule {}: verified for {} stages × {} microbatches × {} virtual stages "
                     "(deadlock-free, complete); peak in-flight microbatches per stage [{}]\n",
                     parallel.schedule, choice.stages, choice.microbatches, choice.virtual_stages,
                     fmt::join(report->peak_in_flight, ", "));
}

}  // namespace llmrt
