// Vocabulary padding (model.vocab_pad_multiple) through real runs: the tiny GPT at vocab_size 63
// padded to 96 rows trains the unpadded run's losses for 10 steps (fp32 and bf16), its wte keeps
// (96, C) in the checkpoint with the padded rows exactly zero and the real rows the unpadded
// run's; tp2 and pp2 padded runs match the one-rank padded run; a checkpoint resumed under
// another multiple is re-padded and continues with the same losses.
#define BOOST_TEST_MODULE exec_vocab_padding
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "ckpt/checkpoint_read.h"
#include "support/process.h"
#include "support/tiny_gpt.h"

using llmrt::test::ProcessResult;
using llmrt::test::TempDir;

namespace {

constexpr int kSteps = 10;
constexpr std::int64_t kVocab = 63, kChannels = 32;

struct Run {
  std::map<std::int64_t, double> losses;  // by step
  llmrt::ModelTensors model;              // the last checkpoint's global tensors
  std::string out;
};

// run_dir/ckpt/step_0000000N: the checkpoint a run below writes at `step`.
std::string step_dir(const std::string& run_dir, int step) {
  const std::string digits = std::to_string(step);
  return run_dir + "/ckpt/step_" + std::string(8 - digits.size(), '0') + digits;
}

// One run of the tiny GPT on its phrase shard at vocab_size 63 (every id of the shard is below
// 62), `ranks` processes (mpirun past one), a checkpoint every 5 steps in run_dir/ckpt.
Run train(const std::string& config, const std::string& run_dir, int ranks, const std::vector<std::string>& sets) {
  std::vector<std::string> argv;
  if (ranks > 1) argv = {"mpirun", "--oversubscribe", "-np", std::to_string(ranks)};
  argv.insert(argv.end(), {LLMRT_CLI_BINARY, "run", config});
  std::vector<std::string> all = {"cluster.node[0].cpus.ranks=" + std::to_string(ranks),
                                  "model.vocab_size=" + std::to_string(kVocab), "metrics.run_dir=\"" + run_dir + "\"",
                                  "checkpoint.dir=\"" + run_dir + "/ckpt\"", "checkpoint.every=5"};
  all.insert(all.end(), sets.begin(), sets.end());
  for (const std::string& set : all) argv.insert(argv.end(), {"--set", set});
  const ProcessResult result = llmrt::test::run_process(argv, llmrt::test::mpirun_env(), "", 300);
  BOOST_TEST_INFO("stdout: " << result.out << "\nstderr: " << result.err);
  BOOST_REQUIRE(result.exit_code == 0);
  Run run;
  run.out = result.out;
  std::ifstream metrics(run_dir + "/metrics.jsonl");
  for (std::string line; std::getline(metrics, line);) {
    const auto json = nlohmann::json::parse(line);
    run.losses[json.at("step").get<std::int64_t>()] = json.at("loss").get<double>();
  }
  auto model = llmrt::read_checkpoint_model(step_dir(run_dir, kSteps));
  BOOST_REQUIRE_MESSAGE(model.ok(), (model.ok() ? "" : model.error().message()));
  run.model = std::move(*model);
  return run;
}

// Steps [first, kSteps] of `got` within `tolerance` (absolute, on losses of ~4) of `want`.
void expect_losses(const Run& got, const Run& want, std::int64_t first, double tolerance, const std::string& what) {
  BOOST_REQUIRE_EQUAL(want.losses.size(), std::size_t(kSteps));
  BOOST_TEST(want.losses.at(kSteps) < want.losses.at(1) - 0.1, what << ": the reference trains");
  for (std::int64_t step = first; step <= kSteps; ++step) {
    BOOST_REQUIRE_MESSAGE(got.losses.count(step) == 1, what << ": no loss for step " << step);
    BOOST_TEST(std::abs(got.losses.at(step) - want.losses.at(step)) <= tolerance,
               what << " step " << step << ": " << got.losses.at(step) << " vs " << want.losses.at(step));
  }
}

// The padded wte: (rows, C), rows [63, rows) exactly zero, rows [0, 63) within `tolerance`
// (relative L2) of the first 63 rows of `unpadded`'s.
void expect_wte(const Run& padded, const Run& unpadded, std::int64_t rows, double tolerance, const std::string& what) {
  const llmrt::GlobalTensor& wte = padded.model.at("wte");
  BOOST_REQUIRE((wte.shape == std::vector<std::int64_t>{rows, kChannels}));
  std::size_t nonzero_padding = 0;
  for (std::size_t i = std::size_t(kVocab * kChannels); i < wte.values.size(); ++i) nonzero_padding += wte.values[i] != 0.0f;
  BOOST_TEST(nonzero_padding == 0u, what << ": padded rows of wte hold " << nonzero_padding << " non-zero values");
  const llmrt::GlobalTensor& real = unpadded.model.at("wte");  // (63 or more, C): its first 63 rows
  BOOST_REQUIRE(real.shape.size() == 2u);
  BOOST_REQUIRE(real.shape[0] >= kVocab);
  BOOST_REQUIRE(real.shape[1] == kChannels);
  double distance = 0, norm = 0;
  for (std::size_t i = 0; i < std::size_t(kVocab * kChannels); ++i) {
    distance += (double(wte.values[i]) - real.values[i]) * (double(wte.values[i]) - real.values[i]);
    norm += double(real.values[i]) * real.values[i];
  }
  BOOST_TEST(norm > 0);
  BOOST_TEST(std::sqrt(distance / norm) < tolerance, what << ": wte's real rows, relative error " << std::sqrt(distance / norm));
}

// Every tensor of `got` within `tolerance` (relative L2 of the whole model) of `want`'s.
void expect_same_model(const Run& got, const Run& want, double tolerance, const std::string& what) {
  BOOST_REQUIRE_EQUAL(got.model.size(), want.model.size());
  double distance = 0, norm = 0;
  for (const auto& [name, tensor] : want.model) {
    const auto& values = got.model.at(name).values;
    BOOST_REQUIRE_EQUAL(values.size(), tensor.values.size());
    for (std::size_t i = 0; i < values.size(); ++i) {
      distance += (double(values[i]) - tensor.values[i]) * (double(values[i]) - tensor.values[i]);
      norm += double(tensor.values[i]) * tensor.values[i];
    }
  }
  BOOST_TEST(std::sqrt(distance / norm) < tolerance, what << ": relative error of all parameters " << std::sqrt(distance / norm));
}

}  // namespace

BOOST_AUTO_TEST_CASE(padded_runs_train_the_unpadded_losses_and_keep_the_padding_zero) {
  TempDir dir("vocab_padding");
  const std::string config = llmrt::test::write_tiny_gpt_on_phrase(dir, "tiny.toml", kSteps);
  for (const std::string precision : {"fp32", "bf16"}) {
    BOOST_TEST_CONTEXT(precision) {
      const std::string p = "train.precision=\"" + precision + "\"";
      const Run unpadded = train(config, dir.path() + "/unpadded_" + precision, 1, {p});
      const Run padded = train(config, dir.path() + "/padded_" + precision, 1, {p, "model.vocab_pad_multiple=48"});
      BOOST_TEST(padded.out.find("vocab 63 padded to 96") != std::string::npos, padded.out);
      BOOST_TEST(unpadded.out.find("padded to") == std::string::npos, unpadded.out);
      expect_losses(padded, unpadded, 1, 1e-5, precision + " padded");
      expect_wte(padded, unpadded, 96, 1e-5, precision);
    }
  }
}

BOOST_AUTO_TEST_CASE(tp2_and_pp2_padded_match_one_rank) {
  TempDir dir("vocab_padding_layouts");
  const std::string config = llmrt::test::write_tiny_gpt_on_phrase(dir, "tiny.toml", kSteps);
  const std::string pad = "model.vocab_pad_multiple=48";
  const Run one = train(config, dir.path() + "/one", 1, {pad});
  const Run tp2 = train(config, dir.path() + "/tp2", 2, {pad, "parallel.tp=2"});
  const Run pp2 = train(config, dir.path() + "/pp2", 2, {pad, "parallel.pp=2"});
  for (const auto& [name, run] : {std::pair<std::string, const Run*>{"tp2", &tp2}, {"pp2", &pp2}}) {
    expect_losses(*run, one, 1, 1e-5, name);
    expect_same_model(*run, one, 1e-5, name);
    expect_wte(*run, one, 96, 1e-5, name);  // against the one-rank padded run's real rows
  }
}

// A checkpoint of step 5 resumed under another multiple: 96 rows trimmed to 63 (multiple 1) and
// 63 rows padded to 96; either way the run continues with the losses of the run that never
// changed (within rounding: the GEMMs change shape) and its last checkpoint has the new rows.
BOOST_AUTO_TEST_CASE(a_checkpoint_resumed_under_another_multiple_is_repadded) {
  TempDir dir("vocab_padding_resume");
  const std::string config = llmrt::test::write_tiny_gpt_on_phrase(dir, "tiny.toml", kSteps);
  const Run padded = train(config, dir.path() + "/padded", 1, {"model.vocab_pad_multiple=48"});
  const Run unpadded = train(config, dir.path() + "/unpadded", 1, {});
  const struct {
    std::string from, pad;
    const Run* reference;
    std::int64_t rows;
  } cases[] = {{dir.path() + "/padded", "model.vocab_pad_multiple=1", &padded, kVocab},
               {dir.path() + "/unpadded", "model.vocab_pad_multiple=48", &unpadded, 96}};
  int index = 0;
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.pad << " from " << c.from) {
      const Run resumed = train(config, dir.path() + "/resumed" + std::to_string(index++), 1,
                                {c.pad, "checkpoint.resume=\"" + step_dir(c.from, 5) + "\""});
      BOOST_TEST(resumed.out.find("resumed from " + step_dir(c.from, 5) + " at step 5") != std::string::npos,
                 resumed.out);
      BOOST_TEST(resumed.losses.count(5) == 0u);  // it did start at step 6
      expect_losses(resumed, *c.reference, 6, 1e-5, c.pad);
      expect_wte(resumed, unpadded, c.rows, 1e-5, c.pad);
    }
  }
}
