// build: process groups, the progress every wait reports to (the watchdog under a launcher),
// and the trainer — the same objects for one rank and for many.
#include <fmt/format.h>

#include "infer/model_files.h"
#include "job/job.h"
#include "obs/plugin_overrun.h"
#include "obs/watchdog_progress.h"
#include "plugin/plugin_guard.h"

namespace llmrt {
namespace {

// Under a launcher every wait is watched: a rank stuck past timeout_s stops the job (exit 3).
// Without one, a plugin call past timeout_s still ends the run with exit 3 and this rank's row.
Result<std::unique_ptr<Progress>> make_progress(const TrainSpec& train, const World& world, const RankCoords& coords) {
  set_plugin_call_rank(world.rank(), coords.label());
  if (!world.launched()) {
    obs::report_plugin_overruns_locally(world.rank(), coords.label());
    return std::make_unique<Progress>();
  }
  LLMRT_ASSIGN_OR_RETURN(auto watchdog, obs::Watchdog::start(world.comm(), train.timeout_s, coords.label()));
  return std::unique_ptr<Progress>(std::make_unique<obs::WatchdogProgress>(std::move(watchdog)));
}

}  // namespace

Result<BuiltJob> build_job(const Spec& spec, const Registry& registry, const ResolvedJob& resolved,
                           const RankPlacement& placement, const World& world) {
  BuiltJob built;
  // Groups and the watchdog are collective and cannot fail on one rank alone.
  LLMRT_ASSIGN_OR_RETURN(built.groups, ProcessGroups::create(resolved.layout, world.rank(), world.launched(),
                                                              resolved.tie_stages, placement.device));
  LLMRT_ASSIGN_OR_RETURN(built.progress, make_progress(spec.train, world, built.groups->coords()));
  auto trainer = Trainer::create(spec, registry, resolved.layout, *built.groups, *built.progress, resolved.rank_dtypes);
  // model.init_from replaces the seeded init before step 1 (checked by open_job already).
  const Status initialized = trainer.ok() ? load_init_from(spec.model, registry, (*trainer)->params()) : Status(trainer.error());
  LLMRT_RETURN_IF_ERROR(world.agree(initialized));
  built.trainer = std::move(*trainer);
  return built;
}

Result<TrainingJob> start_training(const JobRequest& request, const World& world) {
  TrainingJob job;
  LLMRT_ASSIGN_OR_RETURN(job.open, open_job(request, world));
  LLMRT_ASSIGN_OR_RETURN(job.resolved, resolve_job(*job.open, world.size()));
  LLMRT_ASSIGN_OR_RETURN(job.placement, place_rank(*job.open, job.resolved, world));
  LLMRT_ASSIGN_OR_RETURN(job.built, build_job(job.open->spec, job.open->registry, job.resolved, job.placement, world));
  return job;
}

}  // namespace llmrt
