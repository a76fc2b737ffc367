// metrics.sample_every: a tiny GPT learning a repeating text prints samples that show it, on
// one rank and under mpirun with the weights gathered across pipeline stages (the tied wte on
// both) and across tensor-parallel slices; all three print the same text.
#define BOOST_TEST_MODULE infer_training_samples
#include <boost/test/unit_test.hpp>

#include <map>
#include <regex>
#include <sstream>
#include <tuple>

#include "data/token_shards.h"
#include "support/process.h"

using llmrt::test::TempDir;

namespace {

std::string config_text(const std::string& dir, int ranks, int pp, int tp) {
  return fmt::format(R"([cluster]
[[cluster.node]]
name = "localhost"
cpus = {{ ranks = {} }}
[model]
seq_len = 16
vocab_size = 256
[[model.layer]]
component = "gpt.embedding"
d_model = 32
[[model.layer]]
component = "gpt.block"
repeat = 2
d_model = 32
heads = 4
[[model.layer]]
component = "gpt.head"
[parallel]
pp = {}
tp = {}
dp = 1
microbatch_size = 4
[train]
steps = 60
global_batch = 8
seed = 3
optimizer = {{ component = "adamw", lr = 1e-2, betas = [0.9, 0.95], eps = 1e-8, weight_decay = 0.0 }}
lr_schedule = {{ component = "constant" }}
[data]
train = "{}/text.bin"
[metrics]
run_dir = "{}/run"
tensorboard = false
prometheus = ""
sample_every = 30
sample_prompt = "abcde"
)",
                     ranks, pp, tp, dir, dir);
}

// step -> the sample text printed for it.
std::map<int, std::string> samples(const std::string& out) {
  std::map<int, std::string> found;
  const std::regex line(R"(step (\d+) sample \(([0-9.]+) s\): (.*))");
  std::istringstream lines(out);
  for (std::string text; std::getline(lines, text);) {
    std::smatch match;
    if (std::regex_match(text, match, line)) {
      found[std::stoi(match[1])] = match[3];
      BOOST_TEST_MESSAGE("step " << match[1] << " sample took " << match[2] << " s");
    }
  }
  return found;
}

}  // namespace

BOOST_AUTO_TEST_CASE(samples_show_the_text_learned_on_every_layout) {
  TempDir dir("infer_training_samples");
  std::vector<std::uint16_t> tokens;
  const std::string text = "abcde";
  for (int i = 0; i < 2000; ++i) tokens.insert(tokens.end(), text.begin(), text.end());
  BOOST_REQUIRE(llmrt::write_token_shard(dir.path() + "/text.bin", tokens).ok());
  std::map<std::string, std::map<int, std::string>> by_layout;
  for (const auto& [name, ranks, pp, tp] : {std::tuple{"1 rank", 1, 1, 1}, std::tuple{"pp 2", 2, 2, 1},
                                           std::tuple{"tp 2", 2, 1, 2}}) {
    const std::string config = dir.write(fmt::format("job_{}{}.toml", pp, tp), config_text(dir.path(), ranks, pp, tp));
    std::vector<std::string> argv = {"mpirun", "--oversubscribe", "-np", std::to_string(ranks), LLMRT_CLI_BINARY, "run", config};
    const auto result = llmrt::test::run_process(argv, llmrt::test::mpirun_env(), "", 300);
    BOOST_TEST_REQUIRE(result.exit_code == 0, name << ": " << result.err);
    by_layout[name] = samples(result.out);
    BOOST_TEST_REQUIRE(by_layout[name].size() == 2u, name << " printed:\n" << result.out);
    const std::string& last = by_layout[name].at(60);
    BOOST_TEST(last.size() == 5u + 64u, last);  // the prompt and 64 printable bytes
    BOOST_TEST(last.find("abcdeabcdeabcdeabcdeabcde") != std::string::npos, name << ": " << last);
  }
  BOOST_TEST(by_layout["pp 2"].at(60) == by_layout["1 rank"].at(60));
  BOOST_TEST(by_layout["tp 2"].at(60) == by_layout["1 rank"].at(60));
}
