// Validation on data.val: the same loss on every layout (pp2, tp2, dp2, pp2 interleaved) as on
// one rank, every val_every steps and after the last, printed and in metrics.jsonl; and the
// shuffled training order keeps every layout on the one rank's losses.
#define BOOST_TEST_MODULE exec_validation
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "data/token_shards.h"
#include "support/process.h"

using llmrt::test::ProcessResult;
using llmrt::test::TempDir;

namespace {

const char* kConfig = R"([cluster]
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
steps = 5
global_batch = 4
seed = 3
optimizer = { component = "adamw", lr = 3e-3, betas = [0.9, 0.95], weight_decay = 0.1 }
[metrics]
prometheus = ""
)";

// A learnable phrase (train) and the same phrase with every fifth token changed (val).
void write_shards(const TempDir& dir) {
  const std::vector<std::uint16_t> phrase = {5, 17, 3, 44, 9, 61, 28, 12, 7, 50, 33, 2, 19, 40, 11, 58, 24, 36, 1, 47, 30, 14, 63};
  std::vector<std::uint16_t> train(4096), val(1000);
  for (std::size_t i = 0; i < train.size(); ++i) train[i] = phrase[i % phrase.size()];
  for (std::size_t i = 0; i < val.size(); ++i) val[i] = i % 5 == 0 ? static_cast<std::uint16_t>(i % 64) : phrase[i % phrase.size()];
  BOOST_REQUIRE(llmrt::write_token_shard(dir.path() + "/train.bin", train).ok());
  BOOST_REQUIRE(llmrt::write_token_shard(dir.path() + "/val.bin", val).ok());
}

struct Run {
  std::vector<double> losses;
  std::map<std::int64_t, double> val_losses;  // by step
  std::string out;
};

Run run(const TempDir& dir, const std::string& name, int pp, int tp, int dp, int v) {
  const int ranks = pp * tp * dp;
  const std::string out = dir.path() + "/" + name;
  std::vector<std::string> argv;
  if (ranks > 1) argv = {"mpirun", "--oversubscribe", "-np", std::to_string(ranks)};
  for (const std::string& arg : {std::string(LLMRT_CLI_BINARY), std::string("run"), dir.path() + "/job.toml"}) {
    argv.push_back(arg);
  }
  for (const std::string& set :
       {"cluster.node[0].cpus.ranks=" + std::to_string(ranks), "parallel.pp=" + std::to_string(pp),
        "parallel.tp=" + std::to_string(tp), "parallel.dp=" + std::to_string(dp),
        "parallel.virtual_stages=" + std::to_string(v),
        std::string("parallel.schedule=") + (v > 1 ? "interleaved-1f1b" : "1f1b"), "metrics.run_dir=" + out}) {
    argv.push_back("--set");
    argv.push_back(set);
  }
  const ProcessResult result = llmrt::test::run_process(argv, llmrt::test::mpirun_env(), "", 300);
  BOOST_TEST_INFO(name << "\nstdout: " << result.out << "\nstderr: " << result.err);
  BOOST_REQUIRE(result.exit_code == 0);
  Run parsed;
  parsed.out = result.out;
  std::ifstream file(out + "/metrics.jsonl");
  for (std::string line; std::getline(file, line);) {
    const auto json = nlohmann::json::parse(line);
    if (json.contains("val_loss")) parsed.val_losses[json["step"].get<std::int64_t>()] = json["val_loss"].get<double>();
    else parsed.losses.push_back(json["loss"].get<double>());
  }
  return parsed;
}

}  // namespace

BOOST_AUTO_TEST_CASE(every_layout_validates_as_one_rank) {
  TempDir dir("validation_layouts");
  write_shards(dir);
  // val_every 2 of 5 steps: after steps 2, 4 and the last, 5. 12 sequences: 3 global batches.
  dir.write("job.toml", std::string(kConfig) + "[data]\ntrain = \"" + dir.path() + "/train.bin\"\nval = \"" +
                            dir.path() + "/val.bin\"\nval_every = 2\nval_sequences = 12\n");
  const Run one = run(dir, "one", 1, 1, 1, 1);
  BOOST_REQUIRE(one.val_losses.size() == 3u);
  BOOST_REQUIRE(one.val_losses.count(2) && one.val_losses.count(4) && one.val_losses.count(5));
  BOOST_TEST(one.val_losses.at(5) < one.val_losses.at(2));  // the model learns the phrase: not a constant
  BOOST_TEST(one.val_losses.at(5) != one.losses.back());    // and it is not the training loss
  char line[64];
  std::snprintf(line, sizeof line, "step 5 val loss %.4f\n", one.val_losses.at(5));
  BOOST_TEST(one.out.find(line) != std::string::npos);
  const std::vector<std::tuple<std::string, int, int, int, int>> layouts = {
      {"pp2", 2, 1, 1, 1}, {"tp2", 1, 2, 1, 1}, {"dp2", 1, 1, 2, 1}, {"pp2_v2", 2, 1, 1, 2}};
  for (const auto& [name, pp, tp, dp, v] : layouts) {
    const Run other = run(dir, name, pp, tp, dp, v);
    BOOST_REQUIRE_MESSAGE(other.val_losses.size() == 3u, name);
    for (const auto& [step, loss] : one.val_losses) {
      BOOST_TEST(std::abs(other.val_losses.at(step) - loss) / loss < 1e-5,
                 name << " step " << step << ": val loss " << other.val_losses.at(step) << " vs " << loss);
    }
    for (std::size_t step = 0; step < one.losses.size(); ++step) {
      BOOST_TEST(std::abs(other.losses[step] - one.losses[step]) / one.losses[step] < 1e-5,
                 name << " step " << step + 1 << ": loss " << other.losses[step] << " vs " << one.losses[step]);
    }
  }
}
