// What the checkpoint tests share: the tiny GPT (4 blocks, d_model 32, learnable phrase data),
// runs of it under mpirun on a chosen layout with checkpoint keys, and its losses by step.
#pragma once

#include <boost/test/unit_test.hpp>

#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/process.h"
#include "support/tiny_gpt.h"

namespace ckpt_test {

using llmrt::test::ProcessResult;
using llmrt::test::TempDir;

// The tiny GPT (tests/support/tiny_gpt.h) for 6 steps on its phrase shard, as dir/job.toml.
inline std::string write_config(const TempDir& dir) {
  return llmrt::test::write_tiny_gpt_on_phrase(dir, "job.toml", 6, "tensorboard = false\n");
}

struct Degrees {
  int pp = 1, tp = 1, dp = 1;
  int ranks() const { return pp * tp * dp; }
};

// The command line of one run: mpirun when more than one rank, --set for the degrees, run_dir
// and every extra key.
inline std::vector<std::string> run_argv(const std::string& config, Degrees d, const std::string& run_dir,
                                         const std::vector<std::string>& sets, const std::vector<std::string>& extra = {}) {
  std::vector<std::string> argv;
  if (d.ranks() > 1) argv = {"mpirun", "--oversubscribe", "-np", std::to_string(d.ranks())};
  argv.insert(argv.end(), {LLMRT_CLI_BINARY, "run", config});
  argv.insert(argv.end(), extra.begin(), extra.end());
  std::vector<std::string> all = {"cluster.node[0].cpus.ranks=" + std::to_string(d.ranks()),
                                  "parallel.pp=" + std::to_string(d.pp), "parallel.tp=" + std::to_string(d.tp),
                                  "parallel.dp=" + std::to_string(d.dp), "metrics.run_dir=" + run_dir};
  all.insert(all.end(), sets.begin(), sets.end());
  for (const std::string& set : all) argv.insert(argv.end(), {"--set", set});
  return argv;
}

inline ProcessResult run(const std::string& config, Degrees d, const std::string& run_dir,
                         const std::vector<std::string>& sets, const std::vector<std::string>& extra = {}) {
  return llmrt::test::run_process(run_argv(config, d, run_dir, sets, extra), llmrt::test::mpirun_env(), "", 300);
}

// step → loss from run_dir/metrics.jsonl.
inline std::map<std::int64_t, double> losses(const std::string& run_dir) {
  std::map<std::int64_t, double> out;
  std::ifstream file(run_dir + "/metrics.jsonl");
  for (std::string line; std::getline(file, line);) {
    const auto j = nlohmann::json::parse(line);
    out[j.at("step").get<std::int64_t>()] = j.at("loss").get<double>();
  }
  return out;
}

inline std::string describe(const ProcessResult& r) { return "exit " + std::to_string(r.exit_code) + "\nstdout: " + r.out + "\nstderr: " + r.err; }

}  // namespace ckpt_test
