// llmrt's entry point: parse the command line, run one command, turn its status into an exit code.
// The commands themselves read as the product: parse → plan → connect → load → train.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>

#include "cli/cli_options.h"
#include "cli/commands.h"
#include "comm/world.h"

namespace {

using llmrt::CliOptions;

void add_config_command(CLI::App& app, const std::string& name, const std::string& help, CliOptions& options) {
  CLI::App* command = app.add_subcommand(name, help);
  command->add_option("config", options.config_path, "the topology and job TOML file")->required();
  command->add_flag("--rehearse", options.rehearse,
                    "the same job on CPU ranks: each device played by a CPU rank, the checks of hosts and GPUs "
                    "skipped (docs/launch.md)");
  command->add_flag("--share-gpus", options.share_gpus,
                    "for tests: ranks beyond a host's GPUs share them round-robin (tp, dp and pp on one GPU); "
                    "NCCL refuses shared GPUs, so their groups take the staging path")
      ->group("Testing");
  command->callback([&options, name] { options.command = name; });
}

// How `plan` and `sweep` print their ranking.
void add_table_options(CLI::App& command, CliOptions& options) {
  command.add_option("--top", options.plan_top, "rows of the table (default [plan].top)")->check(CLI::PositiveNumber);
  command.add_flag("--json", options.plan_json, "print the whole result as JSON, infeasible layouts included");
  command.add_flag("--csv", options.plan_csv, "print every ranked layout as CSV");
}

void add_plan_options(CLI::App& plan, CliOptions& options) {
  add_table_options(plan, options);
  plan.add_flag("--explain", options.plan_explain,
                "why the best layout sits where it does, what the runner-up loses, why others do not fit");
  plan.add_flag("--parallel-block", options.plan_parallel_block,
                "print the best layout as a [parallel] table (stage_layers included) to paste into the config");
  plan.add_option("--trace", options.trace_path, "write the best layout's predicted timeline as a Chrome trace");
  plan.add_option("--hostfile", options.hostfile_path,
                  "write an Open MPI hostfile for the best layout (mpirun --hostfile FILE --map-by slot)");
}

// `ckpt export SOURCE OUT [--format hf]`: a model in another format (cli/sample_command.cpp).
void add_export_command(CLI::App& ckpt, CliOptions& options) {
  CLI::App* command = ckpt.add_subcommand("export", "one consolidated safetensors file of a checkpoint, or with --format hf a Hugging Face GPT-2 folder");
  command->add_option("source", options.model_source, "a checkpoint (step folder or checkpoint.dir) or a model file (consolidated safetensors)")->required();
  command->add_option("output", options.export_output, "the file, or with --format hf the folder, to write")->required();
  command->add_option("--format", options.export_format, "safetensors (one consolidated file) or hf")
      ->check(CLI::IsMember({"safetensors", "hf"}));
  command->add_option("--config", options.model_config, "the model's config, when SOURCE carries none");
  command->callback([&options] { options.command = "ckpt export"; });
}

// `sample SOURCE --prompt TEXT`: generate text from a model (byte tokens).
void add_sample_command(CLI::App& app, CliOptions& options) {
  CLI::App* command = app.add_subcommand("sample", "generate text from a model file (byte tokens; no KV cache)");
  command->add_option("source", options.model_source, "a checkpoint (step folder or checkpoint.dir) or a model file (consolidated safetensors)")->required();
  command->add_option("--prompt", options.sample_prompt, "the text to continue")->required();
  command->add_option("--tokens", options.sample_tokens, "tokens to generate (default 200)");
  command->add_option("--temperature", options.sample_temperature, "softmax temperature (default 0.8; 0 = greedy)");
  command->add_option("--top-k", options.sample_top_k, "sample among the K most likely (default 40; 0 = off)");
  command->add_option("--seed", options.sample_seed, "random seed: one seed, one text (default 1337)");
  command->add_option("--config", options.model_config, "the model's config, when SOURCE carries none");
  command->callback([&options] { options.command = "sample"; });
}

// `plugins test NAME`: a layer's gradient check and contract checks, an optimizer's (plugtest/).
void add_plugin_test_command(CLI::App& plugins, CliOptions& options) {
  CLI::App* test = plugins.add_subcommand("test", "check a layer (gradients, shapes, +=, recompute, tp) or an "
                                                  "optimizer; one line per check, exit 1 on any failure");
  llmrt::plugtest::PluginTestOptions& o = options.plugin_test;
  test->add_option("name", o.name, "component name, e.g. gpt.block")->required();
  test->add_option("--plugin", o.plugin_files, "a plugin file or folder to search too (after the built-in plugins)");
  test->add_option("--shape", o.shape, "B,T: the microbatch the layer is tested on (default 2,5)");
  test->add_option("--tp", o.tp, "tensor-parallel ranks: run as `mpirun -np N llmrt plugins test NAME --tp N`");
  test->add_option("--dtype", o.dtype, "f32, or bf16: the layer at bf16 against itself at f32 too");
  test->add_option("--seed", o.seed, "seed of the inputs and parameters (default 1234)");
  test->callback([&options] { options.command = "plugins test"; });
}

void add_commands(CLI::App& app, CliOptions& options) {
  add_config_command(app, "run", "train (under mpirun/srun; one rank without a launcher)", options);
  app.get_subcommand("run")
      ->add_option("--dump-params", options.dump_params_dir,
                   "for tests: write each rank's final parameters to DIR/rank_N.{json,bin}")
      ->group("Testing");
  CLI::App* run = app.get_subcommand("run");
  run->add_flag("--detect-anomaly", options.detect_anomaly,
                "the same as --set train.detect_anomaly=true: name the first layer call that writes a NaN or Inf");
  run->add_option("--trace", options.trace_path,
                  "write every rank's actions of one step as a Chrome trace (Perfetto, chrome://tracing)");
  run->add_option("--trace-step", options.trace_step, "the step --trace records (default 2: after warm-up)")
      ->check(CLI::PositiveNumber);
  app.get_subcommand("run")
      ->add_option("--inject-fault", options.inject_fault,
                   "for tests: RANK:STEP:stall|exit makes that rank stall or exit at the start of that step; "
                   "RANK:STEP:overflow puts an inf in its gradients of that step (an fp16 overflow); RANK:STEP:kill "
                   "SIGKILLs it at the start of that step; RANK:STEP:ckpt-kill kills it halfway through writing the "
                   "checkpoint of that step")
      ->group("Testing");
  add_config_command(app, "plan", "rank the possible layouts by predicted throughput", options);
  add_plan_options(*app.get_subcommand("plan"), options);
  add_config_command(app, "check", "validate config, topology, plugins and the schedule; print a summary", options);
  add_config_command(app, "sweep", "predicted table for the [sweep] grid; --measure runs the top layouts", options);
  add_table_options(*app.get_subcommand("sweep"), options);
  app.get_subcommand("sweep")->add_flag("--measure", options.sweep_measure,
                                        "under mpirun, train each of the top [sweep].measure_top_k layouts for "
                                        "[sweep].measure_steps steps; write sweep.csv, sweep.json, sweep.svg");
  app.get_subcommand("sweep")->add_flag("--calibrate", options.sweep_calibrate,
                                        "with --measure: also write calibration.toml, the fitted [plan] constants");

  CLI::App* plugins = app.add_subcommand("plugins", "components found, with versions and paths");
  plugins->require_subcommand(1);
  plugins->add_subcommand("list", "list every component found")->callback([&options] { options.command = "plugins list"; });
  CLI::App* info = plugins->add_subcommand("info", "one component: kind, version, path, build id");
  info->add_option("name", options.plugin_name, "component name, e.g. 1f1b")->required();
  info->callback([&options] { options.command = "plugins info"; });
  add_plugin_test_command(*plugins, options);
  CLI::App* create = plugins->add_subcommand("new", "write a buildable, testable plugin project (docs/plugins.md)");
  create->add_option("name", options.plugin_name, "component name, e.g. acme.rmsnorm")->required();
  create->add_option("--kind", options.plugin_kind, "layer, optimizer, lr or schedule")->required();
  create->add_option("dir", options.plugin_dir, "the folder to create (new or empty)")->required();
  create->callback([&options] { options.command = "plugins new"; });

  CLI::App* data = app.add_subcommand("data", "training data");
  data->require_subcommand(1);
  CLI::App* prepare = data->add_subcommand("prepare", "tokenise a text file into llm.c token shards (bytes)");
  prepare->add_option("input", options.data_input, "a text file")->required();
  prepare->add_option("output", options.data_output, "prefix of OUT_train.bin and OUT_val.bin")->required();
  prepare->callback([&options] { options.command = "data prepare"; });
  CLI::App* ckpt = app.add_subcommand("ckpt", "checkpoints: inspect, export");
  ckpt->require_subcommand(1);
  CLI::App* inspect = ckpt->add_subcommand("inspect", "step, layout, tensors and sizes; every checksum verified");
  inspect->add_option("dir", options.ckpt_path, "a step folder, or a checkpoint.dir (its latest)")->required();
  inspect->callback([&options] { options.command = "ckpt inspect"; });
  add_export_command(*ckpt, options);
  add_sample_command(app, options);
}

void configure_app(CLI::App& app, CliOptions& options) {
  app.set_version_flag("--version", "llmrt " LLMRT_VERSION);
  app.add_option("--set", options.overrides, "override a config key, typed like a TOML value: --set train.steps=10")
      ->type_name("KEY.PATH=VALUE")
      ->take_all();
  app.add_flag("--allow-insecure-plugins", options.allow_insecure_plugins,
               "load plugin files or folders that others can write to");
  app.fallthrough();
  add_commands(app, options);
}

// `llmrt CONFIG` is `llmrt run CONFIG`: insert the word when the first positional is no command.
std::vector<std::string> with_default_command(int argc, char** argv) {
  static const std::vector<std::string> kCommands = {"run", "plan", "check", "sweep", "plugins", "data", "ckpt", "sample"};
  std::vector<std::string> args(argv + 1, argv + argc);
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--set") { ++i; continue; }  // its value
    if (arg.rfind("-", 0) == 0) continue;
    if (std::find(kCommands.begin(), kCommands.end(), arg) == kCommands.end()) {
      args.insert(args.begin() + static_cast<std::ptrdiff_t>(i), "run");
    }
    break;
  }
  return args;
}

// The last resort for an exception no one caught on another thread (or thrown past main's
// catch): one line naming it, exit 1, never std::terminate's "terminate called ..." and a core.
[[noreturn]] void on_terminate() {
  try {
    if (std::exception_ptr current = std::current_exception()) std::rethrow_exception(current);
    std::fputs("llmrt: internal error: std::terminate called without an exception\n", stderr);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "llmrt: internal error: uncaught exception: %s\n", error.what());
  } catch (...) {
    std::fputs("llmrt: internal error: uncaught exception of unknown type\n", stderr);
  }
  std::fflush(stderr);
  std::_Exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  std::set_terminate(on_terminate);
  CliOptions options;
  CLI::App app("llmrt: plan and train GPT-style models on the machines you own.\n"
               "  llmrt [run] CONFIG | check CONFIG | plan CONFIG | sweep CONFIG | data prepare IN OUT | "
               "sample MODEL --prompt TEXT | ckpt export MODEL OUT [--format hf] | plugins list|info|test NAME | plugins new NAME --kind KIND DIR",
               "llmrt");
  configure_app(app, options);
  std::vector<std::string> args = with_default_command(argc, argv);
  std::reverse(args.begin(), args.end());  // CLI11 takes its vector in reverse order
  try {
    app.parse(args);
  } catch (const CLI::Success& success) {
    return app.exit(success);
  } catch (const CLI::ParseError& error) {
    app.exit(error);
    return 2;  // usage error: nothing was started
  }
  if (options.command.empty()) {
    std::cerr << app.help() << "\nllmrt: name a command or a config file\n";
    return 2;
  }
  llmrt::World world;
  int exit_code = 1;
  try {
    exit_code = llmrt::run_command(options, world);
  } catch (const std::exception& error) {
    // A bug or a resource failure below a Status-returning layer: one message, exit 1, never
    // std::terminate's core dump without a word.
    std::cerr << "llmrt: internal error: " << error.what() << "\n";
    exit_code = 1;
  } catch (...) {
    std::cerr << "llmrt: internal error: an exception of unknown type\n";
    exit_code = 1;
  }
  return world.agree_exit_code(exit_code);
}
