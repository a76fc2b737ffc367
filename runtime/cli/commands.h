// The commands behind the CLI. Each returns a Status; run_command prints it and picks the exit code.
#pragma once

#include "cli/cli_options.h"
#include "comm/mpi_session.h"
#include "config/spec.h"
#include "plugin/plugin_search.h"
#include "util/status.h"

namespace llmrt {

// Runs options.command and returns the process exit code (0, or the error's kind).
int run_command(const CliOptions& options, const MpiSession& mpi);

// `llmrt check CONFIG`: validate and describe the config; output goes to rank 0's stdout.
Status check_command(const CliOptions& options, const MpiSession& mpi);

// `llmrt plan CONFIG`: every feasible layout ranked by predicted throughput (table, --json,
// --csv), with --explain, --trace FILE and --hostfile FILE for the best one.
Status plan_command(const CliOptions& options, const MpiSession& mpi);

// `llmrt sweep CONFIG`: the predicted table restricted to the [sweep] grid.
Status sweep_command(const CliOptions& options, const MpiSession& mpi);

// `llmrt [run] CONFIG`: train.
Status train_command(const CliOptions& options, const MpiSession& mpi);

// `llmrt data prepare IN OUT`: byte-level token shards OUT_train.bin and OUT_val.bin.
Status data_prepare_command(const CliOptions& options);

// Where plugins are searched for this command line and model (built-in, plugin_paths, env).
PluginSearchOptions plugin_search_options(const CliOptions& options, const ModelSpec& model);

}  // namespace llmrt
