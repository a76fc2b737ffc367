#include "cli/run_layout.h"

#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/plan_inputs.h"
#include "cli/plan_report.h"
#include "config/config_document.h"
#include "exec/model_layers.h"

namespace llmrt {
namespace {

Result<PlannedLayout> best_planned_layout(const Spec& spec, const Topology& topology, const Registry& registry,
                                          int world_size) {
  auto result = plan_layouts(plan_request_for(spec, topology, registry, world_size));
  if (!result) return result.error();
  if (result->ranked.empty()) {
    const std::string reason = result->infeasible.empty() ? "no candidate" : result->infeasible.front().reason;
    return input_error("[parallel] leaves the layout to the planner, and no layout fits: {} (`llmrt plan {} "
                       "--explain` lists every reason)",
                       reason, spec.config_path);
  }
  return result->ranked.front();
}

}  // namespace

PlanRequest plan_request_for(const Spec& spec, const Topology& topology, const Registry& registry, int world_size) {
  PlanRequest request;
  request.topology = &topology;
  request.cluster = &spec.cluster;
  request.parallel = spec.parallel;
  request.train = spec.train;
  request.plan = spec.plan;
  request.seq_len = spec.model.seq_len.value;
  request.world_size = world_size;
  request.schedules = candidate_schedules(registry, spec.parallel);
  request.layer_costs = make_layer_cost_fn(spec.model, registry, spec.train.precision);
  request.schedule_actions = make_schedule_fn(registry);
  request.layer_support = make_layer_support_fn(spec.model, registry, spec.train.precision);
  return request;
}

Result<ChosenLayout> choose_run_layout(Spec& spec, const Topology& topology, const Registry& registry,
                                       int world_size) {
  const ParallelSpec& parallel = spec.parallel;
  ChosenLayout chosen;
  if (parallel.pp.value && parallel.tp.value && parallel.dp.value) {
    auto fixed = fixed_layout(parallel, spec.train, world_size);
    if (!fixed) return fixed.error();
    chosen.layout = *fixed;
    return chosen;
  }
  auto planned = best_planned_layout(spec, topology, registry, world_size);
  if (!planned) return planned.error();
  const Layout& best = planned->layout;
  spec.parallel.pp.value = best.pp;
  spec.parallel.tp.value = best.tp;
  spec.parallel.dp.value = best.dp;
  spec.parallel.schedule = best.schedule;
  spec.parallel.virtual_stages = best.virtual_stages;
  spec.parallel.microbatch_size = best.microbatch_size;
  spec.parallel.stage_layers.value = best.stage_layers;
  auto fixed = fixed_layout(spec.parallel, spec.train, world_size);
  if (!fixed) return fixed.error();
  chosen.layout = *fixed;
  chosen.planned = *planned;
  return chosen;
}

Status write_resolved_config(const std::string& config_path, const std::vector<std::string>& overrides,
                             const std::string& run_dir) {
  if (run_dir.empty()) return Status::success();
  auto document = load_config_document(config_path);
  if (!document) return document.error();
  LLMRT_RETURN_IF_ERROR(apply_overrides(*document, overrides));
  std::error_code error;
  std::filesystem::create_directories(run_dir, error);
  const std::string path = run_dir + "/config.resolved.toml";
  std::ofstream file(path);
  file << fmt::format("# {} as this run read it: includes merged, --set applied\n", config_path) << document->root
       << "\n";
  if (error || !file) return runtime_error("{}: cannot write", path);
  return Status::success();
}

Status write_plan_json(const Spec& spec, const ChosenLayout& chosen, const Topology& topology) {
  if (spec.metrics.run_dir.empty()) return Status::success();
  const Layout& layout = chosen.layout;
  nlohmann::json plan = {{"source", chosen.planned ? "planner" : "[parallel]"},
                         {"pp", layout.pp}, {"tp", layout.tp}, {"dp", layout.dp},
                         {"virtual_stages", layout.virtual_stages}, {"schedule", layout.schedule},
                         {"microbatch_size", layout.microbatch_size}, {"microbatches", layout.microbatches},
                         {"stage_layers", layout.stage_layers}};
  if (chosen.planned) {
    PlanResult single;
    single.ranked.push_back(*chosen.planned);
    plan["predicted"] = plan_result_json(single, topology)["ranked"][0];
  }
  std::error_code error;
  std::filesystem::create_directories(spec.metrics.run_dir, error);
  const std::string path = spec.metrics.run_dir + "/plan.json";
  std::ofstream(path) << plan.dump(1) << "\n";
  if (error) return runtime_error("{}: cannot write: {}", path, error.message());
  return Status::success();
}

}  // namespace llmrt
