#include "cli/sweep_measure.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "cli/plan_report.h"
#include "comm/process_groups.h"
#include "exec/model_plan.h"
#include "exec/trainer.h"
#include "obs/watchdog_progress.h"

namespace llmrt {
namespace {

// The spec that makes the executor build exactly this planned layout for a few steps.
Spec spec_for(const Spec& base, const Layout& layout, std::int64_t steps) {
  Spec spec = base;
  spec.parallel.pp.value = layout.pp;
  spec.parallel.tp.value = layout.tp;
  spec.parallel.dp.value = layout.dp;
  spec.parallel.schedule = layout.schedule;
  spec.parallel.virtual_stages = layout.virtual_stages;
  spec.parallel.microbatch_size = layout.microbatch_size;
  spec.parallel.stage_layers.value = layout.stage_layers;
  spec.train.steps = steps;
  return spec;
}

// Trains one layout for `steps` steps; the median step time after the first (warm-up) one.
Result<double> measure_layout(const Spec& spec, const Registry& registry, const Layout& planned, const MpiSession& mpi,
                              Progress& progress) {
  auto layout = fixed_layout(spec.parallel, spec.train, mpi.world_size());
  if (!layout) return layout.error();
  auto model = plan_model(spec, registry, *layout);
  if (!model) return model.error();
  auto groups = ProcessGroups::create(model->layout, mpi.rank(), mpi.launched(), model->tie_stages);
  if (!groups) return groups.error();
  auto trainer = Trainer::create(spec, registry, model->layout, **groups, progress);
  if (!trainer) return trainer.error();
  std::vector<double> seconds;
  for (std::int64_t step = 1; step <= spec.train.steps; ++step) {
    auto report = (*trainer)->train_step();
    if (!report) return report.error();
    if (step > 1 || spec.train.steps == 1) seconds.push_back(report->seconds);
  }
  std::sort(seconds.begin(), seconds.end());
  double median = seconds[seconds.size() / 2];
  // Every rank's step ends at the same loss all-reduce; take the slowest rank's median anyway.
  MPI_Allreduce(MPI_IN_PLACE, &median, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  (void)planned;
  return median;
}

}  // namespace

Status measure_sweep(const CliOptions& options, const MpiSession& mpi, PlanInputs& inputs,
                     const PlanResult& predicted) {
  if (!mpi.launched()) {
    return input_error("'sweep --measure' runs the layouts: start it under mpirun with {} ranks",
                       inputs.topology.world_size());
  }
  auto watchdog = obs::Watchdog::start(MPI_COMM_WORLD, inputs.spec.train.timeout_s, fmt::format("rank {}", mpi.rank()));
  if (!watchdog) return watchdog.error();
  obs::WatchdogProgress progress(std::move(*watchdog));
  const int k = std::min<int>(inputs.spec.sweep.measure_top_k, static_cast<int>(predicted.ranked.size()));
  std::vector<SweepMeasurement> rows;
  for (int i = 0; i < k; ++i) {
    const PlannedLayout& planned = predicted.ranked[static_cast<std::size_t>(i)];
    const Spec spec = spec_for(inputs.spec, planned.layout, std::max<std::int64_t>(2, inputs.spec.sweep.measure_steps));
    auto step_s = measure_layout(spec, inputs.registry, planned.layout, mpi, progress);
    if (!step_s) return step_s.error().with_context(fmt::format("measuring {}", layout_label(planned.layout)));
    const double tokens = static_cast<double>(spec.train.global_batch.value) * spec.model.seq_len.value;
    rows.push_back(SweepMeasurement{planned, tokens / *step_s, *step_s});
    if (mpi.rank() == 0) {
      fmt::print("measured {} {}: {:.0f} tokens/s (predicted {:.0f}, {:+.1f} %)\n", layout_label(planned.layout),
                 planned.layout.schedule, rows.back().measured_tokens_per_s, planned.tokens_per_s,
                 100 * (planned.tokens_per_s / rows.back().measured_tokens_per_s - 1));
      std::fflush(stdout);
    }
  }
  if (mpi.rank() != 0) return Status::success();
  return write_sweep_outputs(inputs.spec.metrics.run_dir, rows, inputs.topology, inputs.spec.plan,
                             options.sweep_calibrate);
}

}  // namespace llmrt
