#include "cli/run_outputs.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/plan_report.h"
#include "config/config_document.h"

namespace llmrt {
namespace {

// Writes `text` to run_dir/name; a failure names the file and the reason.
Status write_run_file(const std::string& run_dir, const std::string& name, const std::string& text) {
  std::error_code error;
  std::filesystem::create_directories(run_dir, error);
  if (error) return runtime_error("{}: cannot create the run directory: {}", run_dir, error.message());
  const std::string path = run_dir + "/" + name;
  std::ofstream file(path, std::ios::trunc);
  file << text;
  file.close();
  if (!file) return runtime_error("{}: cannot write: {}", path, std::strerror(errno));
  return Status::success();
}

}  // namespace

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
