// What `llmrt run` leaves in run_dir before step 1: config.resolved.toml (the config as the run
// read it) and plan.json (the layout, and the planner's predictions when it chose).
#pragma once

#include <string>
#include <vector>

#include "cli/run_dir_lock.h"
#include "comm/world.h"
#include "config/spec.h"
#include "job/job.h"
#include "topology/topology.h"
#include "util/status.h"

namespace llmrt {

// Where a run writes besides run_dir: the command line's --trace file and --dump-params folder.
struct OutputPaths {
  std::string trace;        // "" = none
  std::string dump_params;  // "" = none
};

// Every place the run will write, checked before anything is written (an input error naming the
// key or flag, the path and the OS reason: "Not a directory", "Read-only file system"), and
// run_dir locked on rank 0 for the run (a second run there is refused, naming the holder).
// Collective: every rank learns of a refusal.
Result<RunDirLock> claim_output_paths(const Spec& spec, const OutputPaths& paths, const World& world);

// The config as this run read it — includes merged, --set applied (also each checkpoint's config.toml).
Result<std::string> resolved_config_text(const std::string& config_path, const std::vector<std::string>& overrides);
// run_dir/config.resolved.toml: resolved_config_text().
Status write_resolved_config(const std::string& config_path, const std::vector<std::string>& overrides,
                             const std::string& run_dir);

// run_dir/plan.json: the layout, and the planner's predictions when it chose.
Status write_plan_json(const std::string& run_dir, const ResolvedJob& resolved, const Topology& topology);

}  // namespace llmrt
