// What `llmrt plan` and `llmrt sweep` print: the ranked table, the same as JSON or CSV, the
// explanation of the best layout, and an Open MPI hostfile for it. Pure formatting of a
// PlanResult against the topology it was planned for; no plugins, no MPI.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "plan/planner.h"
#include "topology/topology.h"

namespace llmrt {

// "pp2·tp4·dp2 v1"
std::string layout_label(const Layout& layout);
// "[13,12,12,13]": layers per virtual stage, in virtual-stage order.
// "—", "selective", "zero 1", "full, zero 1": the recompute mode and ZeRO stage of a layout.
std::string savers_label(const Layout& layout);
std::string stage_layers_label(const std::vector<int>& stage_layers);
// "A100-80GB-SXM 31.2 GiB": the largest peak per device model, models in device order.
// The largest peak per device model, in device order of first appearance.
std::vector<std::pair<std::string, double>> peak_memory_by_model(const PlannedLayout& planned,
                                                                 const Topology& topology);
std::string peak_memory_label(const PlannedLayout& planned, const Topology& topology);

// The ranked table (at most `top` rows) with a footer: how many more feasible layouts there
// are, how many are infeasible, and the best layout's energy for the run.
std::string format_plan_table(const PlanResult& result, const Topology& topology, int top);

// The whole result, infeasible layouts included (for tools and for `sweep --measure` later).
nlohmann::json plan_result_json(const PlanResult& result, const Topology& topology);

// One row per ranked layout, best first, with a header row; numbers in SI units.
std::string format_plan_csv(const PlanResult& result, const Topology& topology);

// For the best layout: where each parallel group sits and why, the stages, what the runner-up
// loses, the planner's notes, and the infeasible layouts with their reasons.
std::string format_plan_explanation(const PlanResult& result, const Topology& topology);

// The layout as a [parallel] TOML table (pp, tp, dp, schedule, virtual_stages, microbatch_size,
// stage_layers) to paste into a config: `run` then builds exactly this layout, split included.
std::string format_parallel_block(const PlannedLayout& planned);

// An Open MPI hostfile placing `planned`'s ranks with `mpirun --hostfile FILE --map-by slot`:
// nodes in the order the ranks visit them, slots = devices used there. `notes` says when the
// order differs from [[cluster.node]], when a node is unused, and when no hostfile can express
// the mapping (a node's ranks are not consecutive) so that a rankfile is needed instead.
struct Hostfile {
  std::string text;
  std::vector<std::string> notes;
  bool exact = true;  // false: --map-by slot will not reproduce rank_to_device
};
Hostfile format_hostfile(const PlannedLayout& planned, const Topology& topology);

}  // namespace llmrt
