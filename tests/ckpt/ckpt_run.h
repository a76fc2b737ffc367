// What the checkpoint tests share: the tiny GPT (4 blocks, d_model 32, learnable phrase data),
// runs of it under mpirun on a chosen layout with checkpoint keys, and its losses by step.
#pragma once

#include <boost/test/unit_test.hpp>

#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/token_shards.h"
#include "support/process.h"

namespace ckpt_test {

using llmrt::test::ProcessResult;
using llmrt::test::TempDir;

inline const char* kConfig = R"([cluster]
[[cluster.node]]
name = "localhost"
cpus = { ranks = 1 }
[model]
seq_len = 16
vocab_size = 64
[[model.layer]]
component = "gpt.embedding"
d_model = 32
[[model.layer]]
component = "gpt.block"
repeat = 4
d_model = 32
heads = 4
[[model.layer]]
component = "gpt.head"
[parallel]
pp = 1
tp = 1
dp = 1
microbatch_size = 1
[train]
steps = 6
global_batch = 4
grad_clip = 1.0
seed = 3
optimizer = { component = "adamw", lr = 3e-3, betas = [0.9, 0.95], weight_decay = 0.1 }
lr_schedule = { component = "cosine", warmup_steps = 2, min_lr = 1e-4 }
[metrics]
prometheus = ""
tensorboard = false
)";

// The config and a phrase shard (a random phrase of 23 tokens, repeated) in `dir`.
inline std::string write_config(const TempDir& dir) {
  std::vector<std::uint16_t> phrase = {5, 17, 3, 44, 9, 61, 28, 12, 7, 50, 33, 2, 19, 40, 11, 58, 24, 36, 1, 47, 30, 14, 63};
  std::vector<std::uint16_t> tokens(4096);
  for (std::size_t i = 0; i < tokens.size(); ++i) tokens[i] = phrase[i % phrase.size()];
  const std::string shard = dir.path() + "/phrase.bin";
  BOOST_REQUIRE(llmrt::write_token_shard(shard, tokens).ok());
  return dir.write("job.toml", std::string(kConfig) + "[data]\ntrain = \"" + shard + "\"\n");
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
