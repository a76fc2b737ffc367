// What the command line asked for, parsed by CLI11 in main.cpp and handed to each command.
#pragma once

#include <string>
#include <vector>

namespace llmrt {

struct CliOptions {
  std::string command;                 // run | plan | check | sweep | plugins list | ...
  std::string config_path;
  std::vector<std::string> overrides;  // --set key.path=value, in order
  bool allow_insecure_plugins = false;
  bool share_gpus = false;             // run/check --share-gpus (testing): ranks beyond a host's GPUs share them
  bool rehearse = false;               // run/check/plan/sweep --rehearse: the job on CPU ranks, host checks skipped
  std::string plugin_name;             // plugins info NAME
  std::string data_input, data_output; // data prepare IN OUT
  std::string ckpt_path, ckpt_out;     // ckpt inspect DIR, ckpt export DIR OUT
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
};

}  // namespace llmrt
