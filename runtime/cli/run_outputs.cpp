#include "cli/run_outputs.h"

#include <filesystem>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/plan_report.h"
#include "config/config_document.h"
#include "util/file_checks.h"
#include "util/file_write.h"

namespace llmrt {
namespace {

// Writes `text` to run_dir/name whole (a temporary file renamed into place); a failure names the
// file and the OS reason, and leaves no empty or partial file.
Status write_run_file(const std::string& run_dir, const std::string& name, const std::string& text) {
  std::error_code error;
  std::filesystem::create_directories(run_dir, error);
  if (error) return runtime_error("{}: cannot create the run directory: {}", run_dir, error.message());
  return write_file_replacing(run_dir + "/" + name, text);
}

// This rank's part of claim_output_paths.
Result<RunDirLock> claim_local(const Spec& spec, const OutputPaths& paths, int rank) {
  if (!paths.dump_params.empty()) LLMRT_RETURN_IF_ERROR(prepare_output_dir(paths.dump_params, "--dump-params"));
  if (!spec.checkpoint.dir.value.empty()) {
    LLMRT_RETURN_IF_ERROR(prepare_output_dir(spec.checkpoint.dir.value, "checkpoint.dir"));
  }
  if (rank != 0) return RunDirLock();
  if (!paths.trace.empty()) LLMRT_RETURN_IF_ERROR(check_output_file(paths.trace, "--trace"));
  if (spec.metrics.run_dir.empty()) return RunDirLock();
  return RunDirLock::acquire(spec.metrics.run_dir);
}

}  // namespace

Result<RunDirLock> claim_output_paths(const Spec& spec, const OutputPaths& paths, const World& world) {
  Result<RunDirLock> lock = claim_local(spec, paths, world.rank());
  LLMRT_RETURN_IF_ERROR(world.agree(lock));
  return lock;
}

Result<std::string> resolved_config_text(const std::string& config_path, const std::vector<std::string>& overrides) {
  LLMRT_ASSIGN_OR_RETURN(auto document, load_config_document(config_path));
  LLMRT_RETURN_IF_ERROR(apply_overrides(document, overrides));
  std::ostringstream text;
  text << fmt::format("# {} as this run read it: includes merged, --set applied\n", config_path) << document.root
       << "\n";
  return text.str();
}

Status write_resolved_config(const std::string& config_path, const std::vector<std::string>& overrides,
                             const std::string& run_dir) {
  if (run_dir.empty()) return Status::success();
  LLMRT_ASSIGN_OR_RETURN(const std::string text, resolved_config_text(config_path, overrides));
  return write_run_file(run_dir, "config.resolved.toml", text);
}

Status write_plan_json(const std::string& run_dir, const ResolvedJob& resolved, const Topology& topology) {
  if (run_dir.empty()) return Status::success();
  const Layout& layout = resolved.layout;
  nlohmann::json plan = {{"source", resolved.planned ? "planner" : "[parallel]"},
                         {"pp", layout.pp}, {"tp", layout.tp}, {"dp", layout.dp},
                         {"virtual_stages", layout.virtual_stages}, {"schedule", layout.schedule},
                         {"microbatch_size", layout.microbatch_size}, {"microbatches", layout.microbatches},
                         {"stage_layers", layout.stage_layers}};
  if (resolved.planned) {
    PlanResult single;
    single.ranked.push_back(*resolved.planned);
    plan["predicted"] = plan_result_json(single, topology)["ranked"][0];
  }
  return write_run_file(run_dir, "plan.json", plan.dump(1) + "\n");
}

}  // namespace llmrt
