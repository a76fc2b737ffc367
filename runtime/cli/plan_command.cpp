// `llmrt plan CONFIG` and `llmrt sweep CONFIG`: read the config and the plugins, let the planner
// rank every feasible layout, and print the ranking (table, JSON or CSV), with --explain the
// reasons, with --trace the best layout's predicted timeline, with --hostfile its placement.
#include <fstream>
#include <iostream>
#include <set>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/plan_inputs.h"
#include "cli/sweep_measure.h"
#include "config/read_spec.h"
#include "exec/cpu_threads.h"
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
Result<std::string> write_trace(const PlanInputs& inputs, const PlannedLayout& best, const std::string& path) {
  auto predicted = predict_step_timeline(inputs.request, best.layout);
  if (!predicted) return predicted.error().with_context("--trace");
  const SimulatedTimeline& timeline = predicted->timeline;
  const std::string label = fmt::format("predicted: {} {} ({})", layout_label(best.layout), best.layout.schedule,
                                        inputs.spec.config_path);
  nlohmann::json trace = timeline_to_chrome_trace(timeline, label);
  // The step's tail after the pipeline is not on any rank's track: say how long it is.
  trace["otherData"]["planned_step_time_s"] = best.step_time_s;
  trace["otherData"]["pipeline_makespan_s"] = timeline.makespan_s;
  trace["otherData"]["dp_allreduce_s"] = predicted->dp_allreduce_s;
  trace["otherData"]["optimizer_s"] = predicted->optimizer_s;
  LLMRT_RETURN_IF_ERROR(write_chrome_trace(path, trace));
  return fmt::format("wrote {}: predicted timeline of {} — pipeline {:.1f} ms + dp all-reduce {:.1f} ms + "
                     "optimizer {:.1f} ms = {:.1f} ms step (open in Perfetto or chrome://tracing)\n",
                     path, layout_label(best.layout), timeline.makespan_s * 1e3, predicted->dp_allreduce_s * 1e3,
                     predicted->optimizer_s * 1e3, best.step_time_s * 1e3);
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
Status report(const CliOptions& options, const PlanInputs& inputs, const PlanResult& result, const std::string& title) {
  const bool machine = options.plan_json || options.plan_csv;
  std::ostream& about = machine ? std::cerr : std::cout;
  if (options.plan_json) {
    nlohmann::json json = plan_result_json(result, inputs.topology);
    json["config"] = inputs.spec.config_path;
    std::cout << json.dump(2) << "\n";
  } else if (options.plan_csv) {
    std::cout << format_plan_csv(result, inputs.topology);
  } else {
    std::cout << title << format_plan_table(result, inputs.topology, options.plan_top > 0 ? options.plan_top : inputs.spec.plan.top);
    if (options.plan_explain) std::cout << "\n" << format_plan_explanation(result, inputs.topology);
  }
  const PlannedLayout& best = result.ranked.front();
  if (!options.trace_path.empty()) {
    auto line = write_trace(inputs, best, options.trace_path);
    if (!line) return line.error();
    about << *line;
  }
  if (!options.hostfile_path.empty()) {
    auto line = write_hostfile(inputs.topology, best, options.hostfile_path);
    if (!line) return line.error();
    about << *line;
  }
  return Status::success();
}

std::string title_of(const std::string& command, const PlanInputs& inputs) {
  const char* precision = inputs.spec.train.precision == Precision::kBf16   ? "bf16"
                          : inputs.spec.train.precision == Precision::kFp16 ? "fp16"
                                                                            : "fp32";
  return fmt::format("llmrt {} {}: {}; {} (seq {}), global batch {}, {}\n\n", command, inputs.spec.config_path,
                     describe_cluster(inputs.topology), inputs.spec.model.name, inputs.spec.model.seq_len.value,
                     inputs.spec.train.global_batch.value, precision);
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
Status apply_sweep_grid(PlanInputs& inputs) {
  const SweepSpec& sweep = inputs.spec.sweep;
  PlanRequest& request = inputs.request;
  request.parallel.pp.value.reset();
  request.parallel.tp.value.reset();
  request.parallel.dp.value.reset();
  if (!sweep.schedule.empty()) {
    for (const std::string& name : sweep.schedule) {
      auto found = inputs.registry.lookup(name, LLMRT_KIND_PIPELINE_SCHEDULE, "[sweep].schedule");
      if (!found) return found.error();
    }
    request.schedules = sweep.schedule;
  }
  if (!sweep.microbatch_size.empty()) request.microbatch_sizes = sweep.microbatch_size;
  return Status::success();
}

}  // namespace

Status plan_command(const CliOptions& options, const MpiSession& mpi) {
  LLMRT_RETURN_IF_ERROR(check_output_options(options));
  auto inputs = load_plan_inputs(options);
  if (!inputs) return inputs.error();
  auto result = plan_layouts((*inputs)->request);
  if (!result) return result.error();
  if (result->ranked.empty()) {
    return no_layouts_error(options.config_path, *result, (*inputs)->topology.world_size(), "");
  }
  if (mpi.rank() != 0) return Status::success();  // under mpirun every rank plans alike; rank 0 speaks
  return report(options, **inputs, *result, title_of("plan", **inputs));
}

// A measured sweep trains: like `run`, kernel threads are set before the plugins load.
static Status configure_measure_threads(const CliOptions& options, const MpiSession& mpi) {
  auto spec = read_spec(options.config_path, options.overrides);
  if (!spec) return spec.error();
  configure_cpu_threads_for(spec->cluster, mpi.launched());
  return Status::success();
}

Status sweep_command(const CliOptions& options, const MpiSession& mpi) {
  if (options.sweep_calibrate && !options.sweep_measure) {
    return input_error("sweep --calibrate fits the cost model to measurements: add --measure");
  }
  if (options.sweep_measure) LLMRT_RETURN_IF_ERROR(configure_measure_threads(options, mpi));
  LLMRT_RETURN_IF_ERROR(check_output_options(options));
  auto inputs = load_plan_inputs(options);
  if (!inputs) return inputs.error();
  LLMRT_RETURN_IF_ERROR(apply_sweep_grid(**inputs));
  auto planned = plan_layouts((*inputs)->request);
  if (!planned) return planned.error();
  PlanResult result;
  const SweepSpec& sweep = (*inputs)->spec.sweep;
  for (PlannedLayout& entry : planned->ranked) {
    if (in_sweep(sweep, entry.layout)) result.ranked.push_back(std::move(entry));
  }
  for (InfeasibleLayout& entry : planned->infeasible) {
    if (in_sweep(sweep, entry.layout)) result.infeasible.push_back(std::move(entry));
  }
  if (result.ranked.empty()) {
    return no_layouts_error(options.config_path, result, (*inputs)->topology.world_size(), "[sweep] grid ");
  }
  if (options.sweep_measure) return measure_sweep(options, mpi, **inputs, result);
  if (mpi.rank() != 0) return Status::success();
  return report(options, **inputs, result, title_of("sweep", **inputs));
}

}  // namespace llmrt
