#include "cli/commands.h"

#include <iostream>
#include <map>

#include <fmt/format.h>

#include "data/token_shards.h"
#include "plugin/plugins_command.h"

namespace llmrt {
namespace {

// Commands whose issue has not landed yet say so instead of pretending.
const std::map<std::string, std::string> kNotBuiltYet = {
    {"ckpt inspect", "checkpoints"},
    {"ckpt export", "checkpoints"},
};

Status dispatch(const CliOptions& options, const MpiSession& mpi) {
  if (options.command == "check") return check_command(options, mpi);
  if (options.command == "run") return train_command(options, mpi);
  if (options.command == "plan") return plan_command(options, mpi);
  if (options.command == "sweep") return sweep_command(options, mpi);
  if (options.command == "data prepare") return data_prepare_command(options);
  if (options.command == "plugins list") return list_plugins(plugin_search_options(options, ModelSpec{}), std::cout);
  if (options.command == "plugins info") {
    return describe_plugin(plugin_search_options(options, ModelSpec{}), options.plugin_name, std::cout);
  }
  auto missing = kNotBuiltYet.find(options.command);
  if (missing != kNotBuiltYet.end()) {
    return input_error("'{}' is not built yet: it needs {}", options.command, missing->second);
  }
  return input_error("unknown command '{}'", options.command);
}

}  // namespace

Status data_prepare_command(const CliOptions& options) {
  auto written = prepare_byte_shards(options.data_input, options.data_output);
  if (!written) return written.error();
  std::cout << fmt::format("wrote {} (90%) and {} (10%): byte-level tokens, vocab_size 256\n", (*written)[0],
                           (*written)[1]);
  return Status::success();
}

PluginSearchOptions plugin_search_options(const CliOptions& options, const ModelSpec& model) {
  PluginSearchOptions search;
  search.config_paths = model.plugin_paths;
  search.allow_insecure = options.allow_insecure_plugins;
  return search;
}

int run_command(const CliOptions& options, const MpiSession& mpi) {
  const Status status = dispatch(options, mpi);
  if (status.ok()) return 0;
  // Every rank reads the same config and fails the same way: rank 0 speaks for all.
  if (mpi.rank() == 0) std::cerr << "llmrt: " << status.error().message() << "\n";
  return status.error().exit_code();
}

}  // namespace llmrt
