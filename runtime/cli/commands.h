// The commands behind the CLI. Each returns a Status; run_command prints it and picks the exit code.
#pragma once

#include "cli/cli_options.h"
#include "comm/world.h"
#include "config/spec.h"
#include "job/job.h"
#include "plugin/plugin_search.h"
#include "util/status.h"

namespace llmrt {

// Runs options.command and returns the process exit code (0, or the error's kind).
int run_command(const CliOptions& options, const World& world);

// `llmrt check CONFIG`: validate and describe the config; output goes to rank 0's stdout.
Status check_command(const CliOptions& options, const World& world);

// `llmrt plan CONFIG`: every feasible layout ranked by predicted throughput (table, --json,
// --csv), with --explain, --trace FILE and --hostfile FILE for the best one.
Status plan_command(const CliOptions& options, const World& world);

// `llmrt sweep CONFIG`: the predicted table restricted to the [sweep] grid.
Status sweep_command(const CliOptions& options, const World& world);

// `llmrt [run] CONFIG`: train.
Status train_command(const CliOptions& options, const World& world);

// `llmrt data prepare IN OUT`: byte-level token shards OUT_train.bin and OUT_val.bin.
Status data_prepare_command(const CliOptions& options);

// `llmrt sample SOURCE --prompt TEXT [...]`: generated text on stdout (cli/sample_command.cpp).
Status sample_command(const CliOptions& options);
// `llmrt ckpt export SOURCE OUT --format hf`: a Hugging Face GPT-2 folder. The consolidated
// format (--format safetensors) is the checkpoint branch's.
Status export_command(const CliOptions& options);

// What the command line asks of the job layer.
JobRequest job_request(const CliOptions& options, bool trains);

// Rank 0 prints one line per config key the job accepts but does not act on yet.
void print_warnings(const OpenJob& job, const World& world);
// Each rank prints its own placement's warnings (one per host: another card model).
void print_warnings(const RankPlacement& placement);

// Where `plugins list` and `plugins info` search (built-in, LLMRT_PLUGIN_PATH).
PluginSearchOptions plugin_search_options(const CliOptions& options);

}  // namespace llmrt
