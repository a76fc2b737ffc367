// What the command line asked for, parsed by CLI11 in main.cpp and handed to each command.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "plugtest/plugin_test_options.h"

namespace llmrt {

struct CliOptions {
  std::string command;                 // run | plan | check | sweep | plugins list | ...
  std::string config_path;
  std::vector<std::string> overrides;  // --set key.path=value, in order
  bool allow_insecure_plugins = false;
  bool share_gpus = false;             // run/check --share-gpus (testing): ranks beyond a host's GPUs share them
  bool rehearse = false;               // run/check/plan/sweep --rehearse: the job on CPU ranks, host checks skipped
  std::string plugin_name;             // plugins info NAME, plugins new NAME
  plugtest::PluginTestOptions plugin_test;  // plugins test NAME [--shape B,T] [--tp N] ...
  bool detect_anomaly = false;         // run --detect-anomaly: train.detect_anomaly = true
  std::string plugin_kind, plugin_dir; // plugins new NAME --kind KIND DIR
  std::string data_input, data_output; // data prepare IN OUT
  std::string ckpt_path;               // ckpt inspect DIR
  std::string dump_params_dir;         // run --dump-params DIR (for tests): final parameters per rank
  std::string trace_path;              // run --trace FILE: one step's measured timeline, all ranks;
                                       // plan --trace FILE: the best layout's predicted timeline
  std::int64_t trace_step = 2;         // run --trace-step N
  int plan_top = 0;                    // plan/sweep --top N: table rows; 0 = [plan].top
  bool plan_json = false;              // plan/sweep --json: the whole PlanResult, infeasible layouts too
  bool plan_csv = false;               // plan/sweep --csv: every ranked layout, one row each
  bool plan_explain = false;
  bool plan_parallel_block = false;    // plan --parallel-block: the best layout as a [parallel] table to paste           // plan --explain: why the best layout, the runner-up, infeasible reasons
  std::string hostfile_path;           // plan --hostfile FILE: Open MPI hostfile placing the best layout
  bool sweep_measure = false;          // sweep --measure: train the top [sweep].measure_top_k layouts (mpirun)
  bool sweep_calibrate = false;        // sweep --calibrate: also write calibration.toml
  std::string inject_fault;            // run --inject-fault RANK:STEP:stall|exit|overflow|kill|ckpt-kill (for tests)
  // sample SOURCE, ckpt export SOURCE OUT (cli/sample_command.cpp)
  std::string model_source;            // a model file (or checkpoint directory)
  std::string model_config;            // --config FILE: the model's config, when SOURCE carries none
  std::string export_output;           // ckpt export OUT
  std::string export_format = "safetensors";  // ckpt export --format safetensors|hf
  std::string sample_prompt;           // sample --prompt TEXT
  std::int64_t sample_tokens = 200;    // sample --tokens N
  double sample_temperature = 0.8;     // sample --temperature T (0 = greedy)
  std::int64_t sample_top_k = 40;      // sample --top-k K (0 = off)
  std::uint64_t sample_seed = 1337;    // sample --seed S
};

}  // namespace llmrt
