// `llmrt plan CONFIG` and `llmrt sweep CONFIG`: read the config and the plugins, let the planner
// rank every feasible layout, and print the ranking (table, JSON or CSV), with --explain the
// reasons, with --trace the best layout's predicted timeline, with --hostfile its placement.
#include <fstream>
#include <iostream>
#include <set>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/sweep_measure.h"
#include "job/job.h"
#include "cli/plan_report.h"
#include "plan/planner_stages.h"
#include "plan/predicted_timeline.h"
#include "schedule/chrome_trace.h"
#include "schedule/simulator.h"

namespace llmrt {
namespace {

Status check_output_options(const CliOptions& options) {
  if (options.plan_json && options.plan_csv) return input_error("--json and --csv each print the whole result: pick one");
  if (options.plan_explain && (options.plan_json || options.plan_csv)) {
    return input_error("--explain prints text beside the table; it cannot go with --json or --csv");
  }
  if (options.plan_parallel_block && (options.plan_json || options.plan_csv || options.plan_explain)) {
    return input_error("--parallel-block prints a config table: it cannot go with --json, --csv or --explain");
  }
  if (options.plan_top < 0) return input_error("--top {}: give a positive number of rows", options.plan_top);
  return Status::success();
}

// No layout fits: say what falls short, most frequent reasons first, so the user knows what
// to change (more devices, less memory per stage, another global batch).
Error no_layouts_error(const std::string& config_path, const PlanResult& result, int world_size,
                       const std::string& scope) {
  if (result.infeasible.empty()) {
    return input_error("{}: no {}layout to plan for {} devices: check [parallel] degrees and [train].global_batch "
                       "(pp × tp × dp must equal the device count, dp × microbatch size must divide the batch)",
                       config_path, scope, world_size);
  }
  std::map<std::string, int> counts;
  for (const InfeasibleLayout& entry : result.infeasible) ++counts[entry.reason];
  std::vector<std::pair<int, std::string>> reasons;
  for (const auto& [reason, count] : counts) reasons.emplace_back(count, reason);
  std::sort(reasons.begin(), reasons.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::string lines;
  for (std::size_t i = 0; i < std::min<std::size_t>(reasons.size(), 5); ++i) {
    lines += fmt::format("\n  {} ({} layout{})", reasons[i].second, reasons[i].first, reasons[i].first == 1 ? "" : "s");
  }
  return input_error("{}: none of the {} candidate {}layouts fits {} device{}:{}", config_path,
                     result.infeasible.size(), scope, world_size, world_size == 1 ? "" : "s", lines);
}

// "16 devices (16 × A100-80GB-SXM) on 2 nodes"
std::string describe_cluster(const Topology& topology) {
  std::vector<std::pair<std::string, int>> models;
  for (const Device& device : topology.devices()) {
    auto found = std::find_if(models.begin(), models.end(), [&](const auto& m) { return m.first == device.model->name; });
    if (found == models.end()) models.emplace_back(device.model->name, 1); else ++found->second;
  }
  std::vector<std::string> parts;
  for (const auto& [name, count] : models) parts.push_back(fmt::format("{} × {}", count, name));
  return fmt::format("{} device{} ({}) on {} node{}", topology.world_size(), topology.world_size() == 1 ? "" : "s", fmt::join(parts, " + "),
                     topology.node_count(), topology.node_count() == 1 ? "" : "s");
}

// ------------------------------------------------------------------------ --trace
Result<std::string> write_trace(const OpenJob& job, const PlanRequest& request, const PlannedLayout& best,
                                const std::string& path) {
  LLMRT_ASSIGN_OR_RETURN_CTX(auto predicted, predict_step_timeline(request, best.layout), "--trace");
  const SimulatedTimeline& timeline = predicted.timeline;
  const std::string label = fmt::format("predicted: {} {} ({})", layout_label(best.layout), best.layout.schedule,
                                        job.spec.config_path);
  nlohmann::json trace = timeline_to_chrome_trace(timeline, label);
  // The step's tail after the pipeline is not on any rank's track: say how long it is.
  trace["otherData"]["planned_step_time_s"] = best.step_time_s;
  trace["otherData"]["pipeline_makespan_s"] = timeline.makespan_s;
  trace["otherData"]["dp_allreduce_s"] = predicted.dp_allreduce_s;
  trace["otherData"]["tie_allreduce_s"] = predicted.tie_allreduce_s;
  trace["otherData"]["optimizer_s"] = predicted.optimizer_s;
  LLMRT_RETURN_IF_ERROR(write_chrome_trace(path, trace));
  const std::string tie = predicted.tie_allreduce_s > 0
                              ? fmt::format(" + tied gradients {:.1f} ms", predicted.tie_allreduce_s * 1e3)
                              : "";
  return fmt::format("wrote {}: predicted timeline of {} — pipeline {:.1f} ms + dp all-reduce {:.1f} ms{} + "
                     "optimizer {:.1f} ms = {:.1f} ms step (open in Perfetto or chrome://tracing)\n",
                     path, layout_label(best.layout), timeline.makespan_s * 1e3, predicted.dp_allreduce_s * 1e3, tie,
                     predicted.optimizer_s * 1e3, best.step_time_s * 1e3);
}

Result<std::string> write_hostfile(const Topology& topology, const PlannedLayout& best, const std::string& path) {
  const Hostfile hostfile = format_hostfile(best, topology);
  std::ofstream out(path);
  out << hostfile.text;
  out.close();
  if (!out) return input_error("--hostfile {}: cannot write the file", path);
  std::string text = fmt::format("wrote {}: mpirun -np {} --hostfile {} --map-by slot llmrt CONFIG\n", path,
                                 best.rank_to_device.size(), path);
  for (const std::string& note : hostfile.notes) text += fmt::format("  note: {}\n", note);
  return text;
}

// Prints the chosen form of `result` and writes the files asked for. With --json or --csv the
// stdout stays machine-readable and the lines about written files go to stderr.
Status report(const CliOptions& options, const OpenJob& job, const PlanRequest& request, const PlanResult& result,
              const std::string& title) {
  const bool machine = options.plan_json || options.plan_csv || options.plan_parallel_block;
  std::ostream& about = machine ? std::cerr : std::cout;
  if (options.plan_parallel_block) {
    std::cout << format_parallel_block(result.ranked.front());
  } else if (options.plan_json) {
    nlohmann::json json = plan_result_json(result, job.topology);
    json["config"] = job.spec.config_path;
    std::cout << json.dump(2) << "\n";
  } else if (options.plan_csv) {
    std::cout << format_plan_csv(result, job.topology);
  } else {
    const int top = options.plan_top > 0 ? options.plan_top : job.spec.plan.top;
    std::cout << title << format_plan_table(result, job.topology, top);
    if (options.plan_explain) std::cout << "\n" << format_plan_explanation(result, job.topology);
  }
  const PlannedLayout& best = result.ranked.front();
  if (!options.trace_path.empty()) {
    LLMRT_ASSIGN_OR_RETURN(std::string line, write_trace(job, request, best, options.trace_path));
    about << line;
  }
  if (!options.hostfile_path.empty()) {
    LLMRT_ASSIGN_OR_RETURN(std::string line, write_hostfile(job.topology, best, options.hostfile_path));
    about << line;
  }
  return Status::success();
}

std::string title_of(const std::string& command, const OpenJob& job) {
  const std::string_view precision = precision_name(job.spec.train.precision);
  const std::string rehearsal =
      job.rehearsal ? "rehearsal: predicted for the topology's devices; `llmrt run --rehearse` plays each by a CPU rank\n"
                    : "";
  return fmt::format("llmrt {} {}: {}; {} (seq {}{}), global batch {}, {}\n{}\n", command, job.spec.config_path,
                     describe_cluster(job.topology), job.spec.model.name, job.spec.model.seq_len.value,
                     vocab_padding_note(job.spec.model), job.spec.train.global_batch.value, precision, rehearsal);
}

// ------------------------------------------------------------------------ sweep grid
template <typename T>
bool in_grid(const std::vector<T>& grid, const T& value) {
  return grid.empty() || std::find(grid.begin(), grid.end(), value) != grid.end();
}

bool in_sweep(const SweepSpec& sweep, const Layout& layout) {
  return in_grid(sweep.pp, layout.pp) && in_grid(sweep.tp, layout.tp) && in_grid(sweep.dp, layout.dp) &&
         in_grid(sweep.virtual_stages, layout.virtual_stages) && in_grid(sweep.schedule, layout.schedule) &&
         in_grid(sweep.microbatch_size, layout.microbatch_size);
}

// The grid replaces [parallel]'s degrees: every listed value is a candidate, an empty list any.
Status apply_sweep_grid(const OpenJob& job, PlanRequest& request) {
  const SweepSpec& sweep = job.spec.sweep;
  request.parallel.pp.value.reset();
  request.parallel.tp.value.reset();
  request.parallel.dp.value.reset();
  if (!sweep.schedule.empty()) {
    for (const std::string& name : sweep.schedule) {
      LLMRT_RETURN_IF_ERROR(job.registry.lookup(name, LLMRT_KIND_PIPELINE_SCHEDULE, "[sweep].schedule"));
    }
    request.schedules = sweep.schedule;
  }
  if (!sweep.microbatch_size.empty()) request.microbatch_sizes = sweep.microbatch_size;
  return Status::success();
}

}  // namespace

Status plan_command(const CliOptions& options, const World& world) {
  LLMRT_RETURN_IF_ERROR(check_output_options(options));
  LLMRT_ASSIGN_OR_RETURN(auto job, open_job(job_request(options, /*trains=*/false), world));
  const PlanRequest request = job->plan_request(job->topology.world_size());
  LLMRT_ASSIGN_OR_RETURN(PlanResult result, plan_layouts(request));
  if (result.ranked.empty()) return no_layouts_error(options.config_path, result, job->topology.world_size(), "");
  if (world.rank() != 0) return Status::success();  // under mpirun every rank plans alike; rank 0 speaks
  result.without_device = plan_without_each_model(request, result);  // "the best plan without device X"
  return report(options, *job, request, result, title_of("plan", *job));
}

Status sweep_command(const CliOptions& options, const World& world) {
  if (options.sweep_calibrate && !options.sweep_measure) {
    return input_error("sweep --calibrate fits the cost model to measurements: add --measure");
  }
  LLMRT_RETURN_IF_ERROR(check_output_options(options));
  // A measured sweep trains: like `run`, kernel threads are set before the plugins load.
  LLMRT_ASSIGN_OR_RETURN(auto job, open_job(job_request(options, options.sweep_measure), world));
  PlanRequest request = job->plan_request(job->topology.world_size());
  LLMRT_RETURN_IF_ERROR(apply_sweep_grid(*job, request));
  LLMRT_ASSIGN_OR_RETURN(PlanResult planned, plan_layouts(request));
  PlanResult result;
  const SweepSpec& sweep = job->spec.sweep;
  for (PlannedLayout& entry : planned.ranked) {
    if (in_sweep(sweep, entry.layout)) result.ranked.push_back(std::move(entry));
  }
  for (InfeasibleLayout& entry : planned.infeasible) {
    if (in_sweep(sweep, entry.layout)) result.infeasible.push_back(std::move(entry));
  }
  if (result.ranked.empty()) {
    return no_layouts_error(options.config_path, result, job->topology.world_size(), "[sweep] grid ");
  }
  if (options.sweep_measure) return measure_sweep(options, world, *job, result);
  if (world.rank() != 0) return Status::success();
  return report(options, *job, request, result, title_of("sweep", *job));
}

}  // namespace llmrt
