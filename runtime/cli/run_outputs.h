// What `llmrt run` leaves in run_dir before step 1: config.resolved.toml (the config as the run
// read it) and plan.json (the layout, and the planner's predictions when it chose).
#pragma once

#include <string>
#include <vector>

#include "config/spec.h"
#include "job/job.h"
#include "topology/topology.h"
#include "util/status.h"

namespace llmrt {

// The config as this run read it — includes merged, --set applied (also each checkpoint's config.toml).
Result<std::string> resolved_config_text(const std::string& config_path, const std::vector<std::string>& overrides);
// run_dir/config.resolved.toml: resolved_config_text().
Status write_resolved_config(const std::string& config_path, const std::vector<std::string>& overrides,
                             const std::string& run_dir);

// run_dir/plan.json: the layout, and the planner's predictions when it chose.
Status write_plan_json(const std::string& run_dir, const ResolvedJob& resolved, const Topology& topology);

}  // namespace llmrt
