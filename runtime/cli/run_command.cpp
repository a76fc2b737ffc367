// `llmrt [run] CONFIG`: train. One process without a launcher is a world of one and runs the
// whole model; under mpirun or srun every rank takes its place in the layout and runs its part
// of the schedule. The steps are the job layer's (open → resolve → build); this file prints.
#include <iostream>
#include <optional>

#include "cli/commands.h"
#include "cli/plan_report.h"
#include "cli/run_outputs.h"
#include "cli/run_report.h"
#include "ckpt/training_checkpoints.h"
#include "exec/param_dump.h"
#include "exec/recompute.h"
#include "exec/step_trace.h"
#include "exec/validation.h"
#include "infer/training_samples.h"
#include "job/job.h"
#include "job/job_checks.h"
#include "obs/fault_injection.h"
#include "plan/predicted_timeline.h"

namespace llmrt {
namespace {

// Rank 0's prediction of the run's layout, for --trace; none when the planner cannot time it.
std::optional<PredictedTrack> predicted_track(const OpenJob& job, const ResolvedJob& resolved,
                                              const CliOptions& options, const World& world) {
  if (options.trace_path.empty() || world.rank() != 0) return std::nullopt;
  auto predicted = predict_step_timeline(job.plan_request(resolved.world_size), resolved.layout);
  if (!predicted) return std::nullopt;
  return PredictedTrack{std::move(predicted->timeline),
                        fmt::format("predicted: {} {}", layout_label(resolved.layout), resolved.layout.schedule)};
}

// What runs between steps besides the step itself.
struct BetweenSteps {
  Validator* validator = nullptr;          // data.val_every
  TrainingSamples* samples = nullptr;      // metrics.sample_every
  TrainingCheckpoints* checkpoints = nullptr;  // [checkpoint], stop signals
};

Status train_loop(Trainer& trainer, const BetweenSteps& between, const Spec& spec, RunReporter& reporter,
                  const CliOptions& options, const std::optional<obs::FaultInjection>& fault, int world_rank,
                  const std::optional<PredictedTrack>& predicted) {
  const std::int64_t trace_step = std::min(options.trace_step, spec.train.steps);
  if (!options.trace_path.empty()) trainer.runner().record_step(trace_step);
  // After a resume the trainer has done steps already.
  if (trainer.steps_done() >= spec.train.steps) {
    reporter.print_line(fmt::format("the checkpoint is at step {}, train.steps = {}: nothing left to train (raise "
                                    "train.steps to go on, or checkpoint.resume = \"never\" to start afresh)",
                                    trainer.steps_done(), spec.train.steps));
  }
  for (std::int64_t step = trainer.steps_done() + 1; step <= spec.train.steps; ++step) {
    if (fault) obs::maybe_inject_fault(*fault, world_rank, step);
    if (fault && fault->mode == obs::FaultInjection::Mode::kOverflow && fault->rank == world_rank &&
        fault->step == step) {
      trainer.inject_gradient_overflow();
    }
    LLMRT_ASSIGN_OR_RETURN(StepReport report, trainer.train_step());
    LLMRT_RETURN_IF_ERROR(reporter.step_done(report));
    if (between.validator && between.validator->due(step)) {
      LLMRT_ASSIGN_OR_RETURN(const double val_loss, between.validator->run(trainer, step));
      LLMRT_RETURN_IF_ERROR(reporter.validation_done(step, val_loss));
    }
    LLMRT_RETURN_IF_ERROR(between.samples->after_step(step, trainer, std::cout));
    if (step == trace_step && !options.trace_path.empty()) {
      LLMRT_RETURN_IF_ERROR(write_step_trace(trainer.runner().measured(), trainer.groups(), step, options.trace_path,
                                             predicted ? &*predicted : nullptr));
    }
    LLMRT_ASSIGN_OR_RETURN(AfterStep next, between.checkpoints->after_step(step));
    if (next == AfterStep::kStop) break;
  }
  return between.checkpoints->finish();
}

// Resume (checkpoint.resume) and checkpoint writing for this run, collectively.
Result<std::unique_ptr<TrainingCheckpoints>> open_checkpoints(const CliOptions& options, const OpenJob& job,
                                                              Trainer& trainer, const World& world,
                                                              const std::optional<obs::FaultInjection>& fault) {
  auto config = resolved_config_text(options.config_path, options.overrides);
  LLMRT_RETURN_IF_ERROR(world.agree(config));
  const bool kill_in_write = fault && fault->mode == obs::FaultInjection::Mode::kCheckpointKill &&
                             fault->rank == world.rank();
  return TrainingCheckpoints::open(job.spec, job.registry, trainer, world, *config, kill_in_write ? fault->step : -1);
}

// Rank 0's terminal (a progress bar), GPU (NVML readings) and predicted pipeline bubble.
ReportOptions report_options(const ResolvedJob& resolved, const RankPlacement& placement, const World& world) {
  ReportOptions options;
  if (world.rank() == 0) options.terminal_columns = stdout_terminal_columns(world.launcher());
  options.nvidia_gpu = placement.gpu.has_value();
  options.rehearsal = placement.rehearsal;
  if (resolved.planned) options.pipeline_bubble = resolved.planned->bubble_fraction;
  return options;
}

// What rank 0 writes to run_dir before step 1; every rank learns whether it worked.
Status write_run_outputs(const CliOptions& options, const OpenJob& job, const ResolvedJob& resolved,
                         const World& world) {
  Status written = Status::success();
  if (world.rank() == 0) {
    written = write_resolved_config(options.config_path, options.overrides, job.spec.metrics.run_dir);
    if (written.ok()) written = write_plan_json(job.spec.metrics.run_dir, resolved, job.topology);
  }
  return world.agree(written);
}

}  // namespace

Status train_command(const CliOptions& options, const World& world) {
  std::optional<obs::FaultInjection> fault;
  if (!options.inject_fault.empty()) {
    LLMRT_ASSIGN_OR_RETURN_CTX(fault, obs::parse_fault_injection(options.inject_fault), "--inject-fault");
  }
  LLMRT_ASSIGN_OR_RETURN(auto job, open_job(job_request(options, /*trains=*/true), world));
  print_warnings(*job, world);
  auto resolved = resolve_job(*job, world.size());
  LLMRT_RETURN_IF_ERROR(world.agree(resolved));
  // Layers that keep their state under train.recompute (a note), or refuse their own (exit 2).
  LLMRT_ASSIGN_OR_RETURN(const std::string recompute, recompute_note(job->spec.model, job->registry, resolved->layout.recompute));
  if (world.rank() == 0 && !recompute.empty()) std::cerr << "llmrt: note: " << recompute << "\n";
  if (const std::string note = zero_note(resolved->layout); !note.empty() && world.rank() == 0) {
    std::cerr << "llmrt: note: " << note << "\n";
  }
  // Every rank on its host and device, or refused, before anything is written.
  LLMRT_ASSIGN_OR_RETURN(RankPlacement placement, place_rank(*job, *resolved, world));
  print_warnings(placement);
  // Every shard read through before anything is written (same call in check_command.cpp).
  auto data = check_training_data(job->spec);
  LLMRT_RETURN_IF_ERROR(world.agree(data));
  LLMRT_ASSIGN_OR_RETURN(const RunDirLock run_dir_lock,
                         claim_output_paths(job->spec, {options.trace_path, options.dump_params_dir}, world));
  LLMRT_RETURN_IF_ERROR(write_run_outputs(options, *job, *resolved, world));
  LLMRT_ASSIGN_OR_RETURN(BuiltJob built, build_job(job->spec, job->registry, *resolved, placement, world));
  Trainer& trainer = *built.trainer;
  LLMRT_ASSIGN_OR_RETURN(RunReporter reporter, RunReporter::create(job->spec, job->topology, trainer, world,
                                                                   report_options(*resolved, placement, world)));
  reporter.print_plan(placement.summary);
  LLMRT_ASSIGN_OR_RETURN(const std::string stage_modes, recompute_summary(job->spec.model, job->registry, trainer.layout()));
  if (world.rank() == 0) fmt::print("llmrt: {}\n", stage_modes);
  if (world.rank() == 0 && job->spec.train.cuda_graph.value) {
    fmt::print("llmrt: {}\n", cuda_graph_line(placement.rehearsal));
  }
  LLMRT_ASSIGN_OR_RETURN(auto checkpoints, open_checkpoints(options, *job, trainer, world, fault));
  TrainingSamples samples(job->spec, job->registry);  // metrics.sample_every
  LLMRT_ASSIGN_OR_RETURN(std::unique_ptr<Validator> validator, Validator::create(job->spec, trainer));
  Status trained = train_loop(trainer, BetweenSteps{validator.get(), &samples, checkpoints.get()}, job->spec, reporter,
                              options, fault, world.rank(), predicted_track(*job, *resolved, options, world));
  // Every rank agreed on a stop by signal: nothing to abort.
  const bool interrupted = !trained.ok() && trained.error().kind() == ErrorKind::kInterrupted;
  if (!trained.ok() && !interrupted) reporter.stop();
  if (!trained.ok() && !interrupted && world.size() > 1) world.abort(trained.error(), built.groups->coords().label());
  if (interrupted) (void)reporter.finish();  // the interruption is what this run reports
  LLMRT_RETURN_IF_ERROR(trained);
  LLMRT_RETURN_IF_ERROR(reporter.finish());
  if (!options.dump_params_dir.empty()) {
    LLMRT_RETURN_IF_ERROR(dump_parameters(trainer.params(), trainer.zero(), options.dump_params_dir, world.rank(),
                                          built.groups->coords(), resolved->layout));
  }
  return Status::success();
}

}  // namespace llmrt
