#include "cli/sweep_measure.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "cli/plan_report.h"

namespace llmrt {
namespace {

// The spec that makes the executor build exactly this planned layout for a few steps.
Spec spec_for(const Spec& base, const Layout& layout, std::int64_t steps) {
  Spec spec = base;
  pin_parallel(spec.parallel, layout);
  spec.train.steps = steps;
  return spec;
}

// Trains one layout for spec.train.steps steps; the median step time after the first
// (warm-up) one, the slowest rank's.
Result<double> measure_layout(const OpenJob& job, const Spec& spec, const Layout& planned, const World& world) {
  LLMRT_ASSIGN_OR_RETURN(ResolvedJob resolved, resolve_layout(job, spec, planned));
  LLMRT_ASSIGN_OR_RETURN(RankPlacement placement, place_rank(job, resolved, world));
  LLMRT_ASSIGN_OR_RETURN(BuiltJob built, build_job(spec, job.registry, resolved, placement, world));
  std::vector<double> seconds;
  for (std::int64_t step = 1; step <= spec.train.steps; ++step) {
    LLMRT_ASSIGN_OR_RETURN(StepReport report, built.trainer->train_step());
    if (step > 1 || spec.train.steps == 1) seconds.push_back(report.seconds);
  }
  std::sort(seconds.begin(), seconds.end());
  // Every rank's step ends at the same loss all-reduce; take the slowest rank's median anyway.
  return world.max(seconds[seconds.size() / 2]);
}

}  // namespace

Status measure_sweep(const CliOptions& options, const World& world, const OpenJob& job, const PlanResult& predicted) {
  if (!world.launched()) {
    return input_error("'sweep --measure' runs the layouts: start it under mpirun with {} ranks",
                       job.topology.world_size());
  }
  const int k = std::min<int>(job.spec.sweep.measure_top_k, static_cast<int>(predicted.ranked.size()));
  std::vector<SweepMeasurement> rows;
  for (int i = 0; i < k; ++i) {
    const PlannedLayout& planned = predicted.ranked[static_cast<std::size_t>(i)];
    const Spec spec = spec_for(job.spec, planned.layout, std::max<std::int64_t>(2, job.spec.sweep.measure_steps));
    LLMRT_ASSIGN_OR_RETURN_CTX(double step_s, measure_layout(job, spec, planned.layout, world), "measuring {}",
                               layout_label(planned.layout));
    const double tokens = static_cast<double>(spec.train.global_batch.value) * spec.model.seq_len.value;
    rows.push_back(SweepMeasurement{planned, tokens / step_s, step_s});
    if (world.rank() == 0) {
      fmt::print("measured {} {}: {:.0f} tokens/s (predicted {:.0f}, {:+.1f} %)\n", layout_label(planned.layout),
                 planned.layout.schedule, rows.back().measured_tokens_per_s, planned.tokens_per_s,
                 100 * (planned.tokens_per_s / rows.back().measured_tokens_per_s - 1));
      std::fflush(stdout);
    }
  }
  if (world.rank() != 0) return Status::success();
  return write_sweep_outputs(job.spec.metrics.run_dir, rows, job.topology, job.spec.plan, options.sweep_calibrate);
}

}  // namespace llmrt
