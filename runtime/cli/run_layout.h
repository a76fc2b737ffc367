// Where `llmrt run` gets its layout: [parallel] when it fixes pp, tp and dp; the planner's
// best layout when it leaves any of them on "auto". Either way the choice is written to
// run_dir/plan.json.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/spec.h"
#include "plan/layout.h"
#include "plan/planner.h"
#include "plugin/registry.h"
#include "topology/topology.h"
#include "util/status.h"

namespace llmrt {

struct ChosenLayout {
  Layout layout;
  std::optional<PlannedLayout> planned;  // set when the planner chose
};

// May rewrite spec.parallel (the planner's microbatch size, schedule, virtual stages and stage
// split) so that the executor builds exactly the planned layout.
Result<ChosenLayout> choose_run_layout(Spec& spec, const Topology& topology, const Registry& registry, int world_size);

// The planner's inputs for this run (the same as `llmrt plan` builds).
PlanRequest plan_request_for(const Spec& spec, const Topology& topology, const Registry& registry, int world_size);

// run_dir/config.resolved.toml: the config as this run read it — includes merged, --set applied.
Status write_resolved_config(const std::string& config_path, const std::vector<std::string>& overrides,
                             const std::string& run_dir);

// run_dir/plan.json: the layout, and the planner's predictions when it chose.
Status write_plan_json(const Spec& spec, const ChosenLayout& chosen, const Topology& topology);

}  // namespace llmrt
