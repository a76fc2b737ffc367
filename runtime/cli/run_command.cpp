// `llmrt [run] CONFIG`: train. One rank without a launcher runs the whole model; under mpirun
// or srun every rank takes its place in the [parallel] layout and runs its part of the schedule.
#include <iostream>
#include <optional>

#include "cli/commands.h"
#include "cli/plan_report.h"
#include "cli/run_layout.h"
#include "cli/run_report.h"
#include "comm/process_groups.h"
#include "config/read_spec.h"
#include "exec/cpu_threads.h"
#include "exec/model_layers.h"
#include "exec/model_plan.h"
#include "exec/param_dump.h"
#include "exec/step_trace.h"
#include "exec/trainer.h"
#include "obs/fault_injection.h"
#include "plan/predicted_timeline.h"
#include "obs/watchdog_progress.h"
#include "plugin/plugin_agreement.h"
#include "topology/device_catalog.h"
#include "topology/topology.h"

namespace llmrt {
namespace {

// Setup failures can differ between ranks (a file one rank cannot read): all ranks learn
// whether any failed before anyone enters a collective that would wait for the failed one.
// Rank 0 prints the error of the run; a failure only another rank saw is printed by that rank.
Status agree_on_setup(const Status& local, const MpiSession& mpi) {
  if (!mpi.launched()) return local;
  int code = local.ok() ? 0 : local.error().exit_code();
  int worst = code, rank0_code = code;
  MPI_Allreduce(&code, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Bcast(&rank0_code, 1, MPI_INT, 0, MPI_COMM_WORLD);
  if (!local.ok() && mpi.rank() != 0 && rank0_code == 0) {
    std::cerr << fmt::format("llmrt: rank {}: {}\n", mpi.rank(), local.error().message());
  }
  if (!local.ok()) return local;
  if (worst != 0) return Error(static_cast<ErrorKind>(worst), "another rank failed to set up (its message says why)");
  return Status::success();
}

struct RunSetup {
  Spec spec;
  Topology topology;
  Registry registry;
  ModelPlan plan;
  ChosenLayout chosen;
};

Result<RunSetup> set_up_run(const CliOptions& options, const MpiSession& mpi) {
  auto spec = read_spec(options.config_path, options.overrides);
  if (!spec) return spec.error();
  auto catalog = DeviceCatalog::build(spec->cluster.device_models);
  if (!catalog) return catalog.error();
  auto topology = build_topology(spec->cluster, *catalog);
  if (!topology) return topology.error();
  if (mpi.launched() && mpi.world_size() != topology->world_size()) {
    return input_error("{}: {} started {} ranks but the topology has {} devices (one rank per device)",
                       options.config_path, mpi.launcher(), mpi.world_size(), topology->world_size());
  }
  configure_cpu_threads_for(spec->cluster, mpi.launched());  // before any plugin (and OpenBLAS) loads
  auto registry = load_plugins(plugin_search_options(options, spec->model));
  if (!registry) return registry.error();
  if (mpi.launched()) LLMRT_RETURN_IF_ERROR(check_plugins_agree(*registry, MPI_COMM_WORLD));
  LLMRT_RETURN_IF_ERROR(check_model_components(spec->model, *registry));
  ChosenLayout chosen;
  if (mpi.launched()) {
    auto made = choose_run_layout(*spec, *topology, *registry, mpi.world_size());
    if (!made) return made.error();
    chosen = std::move(*made);
  } else {
    spec->parallel.stage_layers.value.reset();  // a split for pp stages; one rank holds every layer
    if (spec->train.global_batch.value % spec->parallel.microbatch_size != 0) {
      return input_error("{}: global_batch = {} is not a multiple of microbatch_size = {}",
                         spec->train.global_batch.pos.describe(), spec->train.global_batch.value,
                         spec->parallel.microbatch_size);
    }
    chosen.layout.microbatch_size = spec->parallel.microbatch_size;
    chosen.layout.schedule = spec->parallel.schedule;
    chosen.layout.microbatches = static_cast<int>(spec->train.global_batch.value / chosen.layout.microbatch_size);
  }
  auto plan = plan_model(*spec, *registry, chosen.layout);
  if (!plan) return plan.error();
  chosen.layout = plan->layout;
  if (mpi.rank() == 0) {
    LLMRT_RETURN_IF_ERROR(write_resolved_config(options.config_path, options.overrides, spec->metrics.run_dir));
    LLMRT_RETURN_IF_ERROR(write_plan_json(*spec, chosen, *topology));
  }
  return RunSetup{std::move(*spec), std::move(*topology), std::move(*registry), std::move(*plan), std::move(chosen)};
}

// Rank 0's prediction of the run's layout, for --trace; none when the planner cannot time it.
std::optional<PredictedTrack> predicted_track(const RunSetup& setup, const CliOptions& options, const MpiSession& mpi) {
  if (options.trace_path.empty() || mpi.rank() != 0) return std::nullopt;
  const PlanRequest request = plan_request_for(setup.spec, setup.topology, setup.registry, mpi.launched() ? mpi.world_size() : 1);
  auto predicted = predict_step_timeline(request, setup.plan.layout);
  if (!predicted) return std::nullopt;
  return PredictedTrack{std::move(predicted->timeline),
                        fmt::format("predicted: {} {}", layout_label(setup.plan.layout), setup.plan.layout.schedule)};
}

Status train_loop(Trainer& trainer, const Spec& spec, const RunReporter& reporter, const CliOptions& options,
                  const std::optional<obs::FaultInjection>& fault, int world_rank,
                  const std::optional<PredictedTrack>& predicted) {
  const std::int64_t trace_step = std::min(options.trace_step, spec.train.steps);
  if (!options.trace_path.empty()) trainer.runner().record_step(trace_step);
  for (std::int64_t step = 1; step <= spec.train.steps; ++step) {
    if (fault) obs::maybe_inject_fault(*fault, world_rank, step);
    auto report = trainer.train_step();
    if (!report) return report.error();
    reporter.step_done(*report);
    if (step == trace_step && !options.trace_path.empty()) {
      LLMRT_RETURN_IF_ERROR(write_step_trace(trainer.runner().measured(), trainer.groups(), step, options.trace_path,
                                             predicted ? &*predicted : nullptr));
    }
  }
  return Status::success();
}

// A failure once training runs may leave other ranks waiting on this one: say which rank it
// is and stop the whole job with the error's exit code.
[[noreturn]] void abort_job(const Error& error, const ProcessGroups& groups) {
  std::cerr << fmt::format("llmrt: rank {} ({}): {}\n", groups.world_rank(), groups.coords().label(),
                           error.message());
  std::cerr.flush();
  MPI_Abort(MPI_COMM_WORLD, error.exit_code());
  std::abort();
}

// Under a launcher every wait is watched: a rank stuck past timeout_s stops the job (exit 3).
Result<std::unique_ptr<Progress>> make_progress(const TrainSpec& train, const MpiSession& mpi,
                                               const RankCoords& coords) {
  if (!mpi.launched()) return std::unique_ptr<Progress>(std::make_unique<Progress>());
  auto watchdog = obs::Watchdog::start(MPI_COMM_WORLD, train.timeout_s, coords.label());
  if (!watchdog) return watchdog.error();
  return std::unique_ptr<Progress>(std::make_unique<obs::WatchdogProgress>(std::move(*watchdog)));
}

}  // namespace

Status train_command(const CliOptions& options, const MpiSession& mpi) {
  auto setup = set_up_run(options, mpi);
  LLMRT_RETURN_IF_ERROR(agree_on_setup(setup.ok() ? Status::success() : Status(setup.error()), mpi));
  const Layout& layout = setup->plan.layout;
  std::optional<obs::FaultInjection> fault;
  if (!options.inject_fault.empty()) {
    auto parsed = obs::parse_fault_injection(options.inject_fault);
    if (!parsed) return parsed.error().with_context("--inject-fault");
    fault = *parsed;
  }
  auto groups = ProcessGroups::create(layout, mpi.rank(), mpi.launched(), setup->plan.tie_stages);
  if (!groups) return groups.error();
  auto progress = make_progress(setup->spec.train, mpi, (*groups)->coords());
  if (!progress) return progress.error();
  auto trainer = Trainer::create(setup->spec, setup->registry, layout, **groups, **progress);
  LLMRT_RETURN_IF_ERROR(agree_on_setup(trainer.ok() ? Status::success() : Status(trainer.error()), mpi));
  auto reporter_or = RunReporter::create(setup->spec, setup->topology, **trainer, mpi);
  if (!reporter_or) return reporter_or.error();
  const RunReporter& reporter = *reporter_or;
  reporter.print_plan();
  Status trained = train_loop(**trainer, setup->spec, reporter, options, fault, mpi.rank(),
                              predicted_track(*setup, options, mpi));
  if (!trained.ok() && mpi.launched() && mpi.world_size() > 1) abort_job(trained.error(), **groups);
  LLMRT_RETURN_IF_ERROR(trained);
  reporter.finish();
  if (!options.dump_params_dir.empty()) {
    LLMRT_RETURN_IF_ERROR(dump_parameters((*trainer)->params(), options.dump_params_dir, mpi.rank(),
                                          (*groups)->coords(), layout));
  }
  return Status::success();
}

}  // namespace llmrt
