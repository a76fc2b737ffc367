#include "cli/commands.h"

#include <iostream>
#include <map>

#include <fmt/format.h>

#include "ckpt/ckpt_commands.h"
#include "data/token_shards.h"
#include "plugin/plugin_new.h"
#include "plugin/plugins_command.h"
#include "plugtest/plugin_test_command.h"

namespace llmrt {
namespace {

// Commands whose issue has not landed yet say so instead of pretending.
const std::map<std::string, std::string> kNotBuiltYet = {};

Status dispatch(const CliOptions& options, const World& world) {
  if (options.command == "check") return check_command(options, world);
  if (options.command == "run") return train_command(options, world);
  if (options.command == "plan") return plan_command(options, world);
  if (options.command == "sweep") return sweep_command(options, world);
  if (options.command == "data prepare") return data_prepare_command(options);
  if (options.command == "sample") return sample_command(options);
  if (options.command == "ckpt inspect") return inspect_checkpoint(options.ckpt_path, std::cout);
  if (options.command == "ckpt export") return export_command(options);
  if (options.command == "plugins list") return list_plugins(plugin_search_options(options), std::cout);
  if (options.command == "plugins info") {
    return describe_plugin(plugin_search_options(options), options.plugin_name, std::cout);
  }
  if (options.command == "plugins test") {
    return plugin_test_command(options.plugin_test, options.overrides, plugin_search_options(options), world,
                               std::cout);
  }
  if (options.command == "plugins new") {
    return new_plugin_project({options.plugin_name, options.plugin_kind, options.plugin_dir}, std::cout);
  }
  auto missing = kNotBuiltYet.find(options.command);
  if (missing != kNotBuiltYet.end()) {
    return input_error("'{}' is not built yet: it needs {}", options.command, missing->second);
  }
  return input_error("unknown command '{}'", options.command);
}

}  // namespace

Status data_prepare_command(const CliOptions& options) {
  LLMRT_ASSIGN_OR_RETURN(auto written, prepare_byte_shards(options.data_input, options.data_output));
  std::cout << fmt::format("wrote {} (90%) and {} (10%): byte-level tokens, vocab_size 256\n", written[0],
                           written[1]);
  return Status::success();
}

PluginSearchOptions plugin_search_options(const CliOptions& options) {
  PluginSearchOptions search;
  search.allow_insecure = options.allow_insecure_plugins;
  return search;
}

JobRequest job_request(const CliOptions& options, bool trains) {
  JobRequest request;
  request.config_path = options.config_path;
  request.overrides = options.overrides;
  if (options.detect_anomaly) request.overrides.push_back("train.detect_anomaly=true");  // run --detect-anomaly
  request.allow_insecure_plugins = options.allow_insecure_plugins;
  request.trains = trains;
  request.rehearse = options.rehearse;
  request.share_gpus = options.share_gpus;
  return request;
}

void print_warnings(const OpenJob& job, const World& world) {
  if (world.rank() != 0) return;
  for (const std::string& warning : job.warnings) std::cerr << "llmrt: warning: " << warning << "\n";
}

void print_warnings(const RankPlacement& placement) {
  for (const std::string& warning : placement.warnings) std::cerr << "llmrt: warning: " << warning << "\n";
}

int run_command(const CliOptions& options, const World& world) {
  const Status status = dispatch(options, world);
  if (status.ok()) return 0;
  // Every rank reads the same config and fails the same way: rank 0 speaks for all.
  if (world.rank() == 0) std::cerr << "llmrt: " << status.error().message() << "\n";
  return status.error().exit_code();
}

}  // namespace llmrt
