#include "cli/commands.h"

#include <iostream>
#include <map>

namespace llmrt {
namespace {

// Commands whose issue has not landed yet say so instead of pretending.
const std::map<std::string, std::string> kNotBuiltYet = {
    {"run", "training (issue: compute, single-rank training)"},
    {"plan", "the planner (issue: planner)"},
    {"sweep", "layout sweeps (issue: planner)"},
    {"plugins list", "the plugin loader (issue: plugin ABI)"},
    {"plugins info", "the plugin loader (issue: plugin ABI)"},
    {"data prepare", "the data pipeline"},
    {"ckpt inspect", "checkpoints"},
    {"ckpt export", "checkpoints"},
};

Status dispatch(const CliOptions& options, const MpiSession& mpi) {
  if (options.command == "check") return check_command(options, mpi);
  auto missing = kNotBuiltYet.find(options.command);
  if (missing != kNotBuiltYet.end()) {
    return input_error("'{}' is not built yet: it needs {}", options.command, missing->second);
  }
  return input_error("unknown command '{}'", options.command);
}

}  // namespace

int run_command(const CliOptions& options, const MpiSession& mpi) {
  const Status status = dispatch(options, mpi);
  if (status.ok()) return 0;
  // Every rank reads the same config and fails the same way: rank 0 speaks for all.
  if (mpi.rank() == 0) std::cerr << "llmrt: " << status.error().message() << "\n";
  return status.error().exit_code();
}

}  // namespace llmrt
