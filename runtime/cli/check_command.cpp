// `llmrt check CONFIG`: every validation `run` does before step 1 — config, topology, plugins,
// model, schedule, the layout and its stage split — then what the file describes, printed.
// Under mpirun it also holds MPI's world size and plugin builds against the topology.
#include <iostream>

#include "cli/check_schedule.h"
#include "cli/commands.h"
#include "cli/model_summary.h"
#include "cli/plan_report.h"
#include "exec/recompute.h"
#include "exec/zero_shards.h"
#include "job/job.h"
#include "job/job_checks.h"
#include "topology/topology_report.h"

namespace llmrt {
namespace {

// The fixed parallel degrees must fit the topology: one rank per device.
Status check_parallel_degrees(const ParallelSpec& parallel, int device_count) {
  int fixed_product = 1;
  std::vector<std::string> fixed;
  for (const auto* degree : {&parallel.pp, &parallel.tp, &parallel.dp}) {
    if (!degree->value) continue;
    fixed_product *= *degree->value;
    fixed.push_back(fmt::format("{} = {}", degree->pos.key_path, *degree->value));
  }
  const bool all_fixed = fixed.size() == 3;
  if ((all_fixed && fixed_product != device_count) || device_count % fixed_product != 0) {
    return input_error("{}: {} {} the topology's {} devices (one rank per device)", parallel.pp.pos.describe(),
                       fmt::join(fixed, " × "), all_fixed ? "does not equal" : "does not divide", device_count);
  }
  return Status::success();
}

std::string format_parallel(const ParallelSpec& parallel) {
  auto degree = [](const Located<AutoInt>& value) {
    return value.value ? std::to_string(*value.value) : std::string("auto");
  };
  return fmt::format("parallel: pp {} · tp {} · dp {}, schedule {}, virtual stages {}, microbatch size {}\n",
                     degree(parallel.pp), degree(parallel.tp), degree(parallel.dp), parallel.schedule,
                     parallel.virtual_stages, parallel.microbatch_size);
}

// The layout `mpirun -np N llmrt CONFIG` runs: where it comes from, and the layers per stage.
std::string format_resolved(const ResolvedJob& resolved) {
  const Layout& layout = resolved.layout;
  return fmt::format("layout: {} {} ({}), {} microbatches of {} per replica, stage layers {}\n",
                     layout_label(layout), layout.schedule,
                     resolved.planned ? "chosen by the planner" : "from [parallel]", layout.microbatches,
                     layout.microbatch_size, stage_layers_label(layout.stage_layers));
}

// What parallel.zero resolved to, and what it does on this layout.
std::string format_zero(const Layout& layout) {
  if (layout.zero == 0) return "optimizer state: whole on every rank (parallel.zero = 0)\n";
  if (layout.dp == 1) return "optimizer state: whole (parallel.zero = 1, but dp = 1: no effect)\n";
  return fmt::format("optimizer state: sharded over the {} data-parallel ranks (parallel.zero = 1, ZeRO-1)\n",
                     layout.dp);
}

}  // namespace

Status check_command(const CliOptions& options, const World& world) {
  LLMRT_ASSIGN_OR_RETURN(auto job, open_job(job_request(options, /*trains=*/false), world));
  const Topology& topology = job->topology;
  const ParallelSpec parallel = job->spec.parallel;  // as written, before the layout is resolved
  LLMRT_RETURN_IF_ERROR(check_parallel_degrees(parallel, topology.world_size()));
  LLMRT_ASSIGN_OR_RETURN(ModelSummary model, summarize_model(job->spec.model, job->registry));
  LLMRT_ASSIGN_OR_RETURN(std::string schedule,
                         check_pipeline_schedule(job->registry, parallel, job->spec.train, topology.world_size()));
  // The layout of the launched run, as `run` resolves it.
  auto resolved_or = resolve_job(*job, topology.world_size());
  // Every rank learns whether any failed (each holds its own host's RAM): none waits alone below.
  LLMRT_RETURN_IF_ERROR(world.agree(resolved_or));
  ResolvedJob& resolved = *resolved_or;
  LLMRT_ASSIGN_OR_RETURN(const std::string recompute_line, recompute_summary(job->spec.model, job->registry, resolved.layout));
  LLMRT_ASSIGN_OR_RETURN(const std::string recompute, recompute_note(job->spec.model, job->registry, resolved.layout.recompute));
  // Under a launcher every rank's host and GPU, as `run` checks them; a rehearsal says it skips them.
  std::string placement_line;
  if (world.launched() || job->rehearsal) {
    LLMRT_ASSIGN_OR_RETURN(RankPlacement placement, place_rank(*job, resolved, world));
    print_warnings(placement);
    if (!placement.summary.empty()) placement_line = placement.summary + "\n";
  }
  // The shards as `run` reads them, after the hosts they are read on (same call in run_command.cpp).
  auto data = check_training_data(job->spec);
  LLMRT_RETURN_IF_ERROR(world.agree(data));

  if (world.rank() != 0) return Status::success();
  print_warnings(*job, world);
  if (!recompute.empty()) std::cerr << "llmrt: note: " << recompute << "\n";
  if (const std::string note = zero_note(resolved.layout); !note.empty()) std::cerr << "llmrt: note: " << note << "\n";
  std::cout << fmt::format("{}: OK\n\n", options.config_path) << format_topology(topology, job->spec.cluster) << "\n"
            << format_model_summary(job->spec.model, model) << "\n"
            << format_parallel(parallel) << format_resolved(resolved) << recompute_line << "\n" << format_zero(resolved.layout)
            << "\n" << schedule
            << (job->spec.train.cuda_graph.value ? cuda_graph_line(job->rehearsal) + "\n" : std::string())
            << fmt::format("plugins: {} components from {} files\n", job->registry.components().size(),
                           job->registry.plugins().size())
            << *data << placement_line;
  if (world.launched()) {
    std::cout << fmt::format("MPI: {} ranks under {}, matching the topology\n", world.size(), world.launcher());
  }
  return Status::success();
}

}  // namespace llmrt
