// Mixed precision on the CPU through the real binary: bf16/fp16 storage with fp32 arithmetic,
// fp32 master weights and gradients, and fp16's dynamic loss scale. Each run's steps are read
// back from run_dir/metrics.jsonl.
#define BOOST_TEST_MODULE exec_mixed_precision
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/process.h"
#include "support/tiny_gpt.h"

using namespace llmrt::test;

namespace {

struct Step {
  double loss = 0, loss_scale = 0, lr = 0;
  bool skipped = false;
};

// A small GPT on byte-level GPL-3 text: fast enough for 50 steps, and it learns.
std::vector<std::string> small_model(const std::string& shards, const std::string& run_dir) {
  return {"--set", "data.train=" + shards, "--set", "model.seq_len=64", "--set", "model.layer[0].d_model=64",
          "--set", "model.layer[1].d_model=64", "--set", "model.layer[1].repeat=2", "--set", "train.global_batch=8",
          "--set", "metrics.run_dir=" + run_dir, "--set", "metrics.log_every=1"};
}

std::vector<Step> read_steps(const std::string& run_dir) {
  std::ifstream in(run_dir + "/metrics.jsonl");
  std::vector<Step> steps;
  for (std::string line; std::getline(in, line);) {
    const auto json = nlohmann::json::parse(line);
    steps.push_back(Step{json["loss"], json["loss_scale"], json["lr"], json["skipped"]});
  }
  return steps;
}

struct Text {
  TempDir dir{"mixed_precision"};
  std::string shards;
  Text() {
    const ProcessResult prepared = run_llmrt({"data", "prepare", "/usr/share/common-licenses/GPL-3", dir.path() + "/gpl"});
    BOOST_REQUIRE_MESSAGE(prepared.exit_code == 0, prepared.err);
    shards = dir.path() + "/gpl_train.bin";
  }
};

// One rank (no launcher) of local-cpu.toml at `precision`; extra args appended.
std::vector<Step> train(const Text& text, const std::string& name, const std::string& precision, int steps,
                        std::vector<std::string> extra = {}) {
  const std::string run_dir = text.dir.path() + "/" + name;
  std::vector<std::string> args = {"run", source_path("configs/local-cpu.toml"), "--set",
                                   "train.precision=\"" + precision + "\"", "--set", "train.steps=" + std::to_string(steps)};
  for (const std::string& arg : small_model(text.shards, run_dir)) args.push_back(arg);
  for (const std::string& arg : extra) args.push_back(arg);
  const ProcessResult result = run_llmrt(args);
  BOOST_TEST_INFO("stderr: " << result.err << "\nstdout: " << result.out);
  BOOST_REQUIRE(result.exit_code == 0);
  std::vector<Step> read = read_steps(run_dir);
  BOOST_REQUIRE(read.size() == static_cast<std::size_t>(steps));
  return read;
}

}  // namespace

// bf16 rounds every stored activation, weight copy and activation gradient to 8 mantissa bits;
// the losses stay within 0.02 of fp32's (under 0.5 % of ln 256) at each of 50 steps, differ from
// them (the rounding really happens), and fall as fp32's do.
BOOST_AUTO_TEST_CASE(bf16_tracks_fp32_for_50_steps) {
  const Text text;
  const std::vector<Step> fp32 = train(text, "fp32", "fp32", 50);
  const std::vector<Step> bf16 = train(text, "bf16", "bf16", 50);
  double worst = 0;
  int differing = 0;
  for (std::size_t i = 0; i < fp32.size(); ++i) {
    worst = std::max(worst, std::abs(bf16[i].loss - fp32[i].loss));
    differing += bf16[i].loss != fp32[i].loss;
    BOOST_TEST(bf16[i].loss_scale == 1.0);
    BOOST_TEST(!bf16[i].skipped);
  }
  BOOST_TEST_MESSAGE("bf16 vs fp32: largest loss difference over 50 steps " << worst);
  BOOST_TEST(worst < 0.02);
  BOOST_TEST(differing > 25);
  BOOST_TEST(fp32.back().loss < fp32.front().loss - 1.0);
  BOOST_TEST(bf16.back().loss < bf16.front().loss - 1.0);
}

// An inf in rank 0's gradients at step 3: exactly that step is skipped, the scale halves from
// there on, the schedule does not advance (step 4 runs step 3's lr), and training goes on.
BOOST_AUTO_TEST_CASE(fp16_overflow_skips_exactly_that_step_and_halves_the_scale) {
  const Text text;
  const std::vector<Step> clean = train(text, "fp16_clean", "fp16", 6);
  const std::vector<Step> hit = train(text, "fp16_overflow", "fp16", 6, {"--inject-fault", "0:3:overflow"});
  for (std::size_t i = 0; i < hit.size(); ++i) {
    BOOST_TEST(hit[i].skipped == (i == 2), "step " << i + 1);
    BOOST_TEST(clean[i].loss_scale == 65536.0, "step " << i + 1);
    BOOST_TEST(hit[i].loss_scale == (i <= 2 ? 65536.0 : 32768.0), "step " << i + 1);
    BOOST_TEST(std::isfinite(hit[i].loss));
  }
  // Steps 1-3 ran the same weights; step 3's update was dropped, so step 4 differs.
  for (std::size_t i = 0; i < 3; ++i) BOOST_TEST(hit[i].loss == clean[i].loss, "step " << i + 1);
  BOOST_TEST(hit[3].loss != clean[3].loss);
  BOOST_TEST(hit[3].lr == clean[2].lr);
  BOOST_TEST(hit[5].lr == clean[4].lr);
}

// After loss_scale_window clean steps the scale doubles.
BOOST_AUTO_TEST_CASE(fp16_scale_grows_after_a_window_of_clean_steps) {
  const Text text;
  const std::vector<Step> steps =
      train(text, "fp16_grow", "fp16", 5, {"--set", "train.loss_scale_init=1024", "--set", "train.loss_scale_window=2"});
  const std::vector<double> expected = {1024, 1024, 2048, 2048, 4096};
  for (std::size_t i = 0; i < steps.size(); ++i) BOOST_TEST(steps[i].loss_scale == expected[i], "step " << i + 1);
}

// The same bf16 job as two pipeline stages under mpirun: the stage boundary carries bf16, and
// the losses are one rank's within bf16 rounding. Not 1e-5 as in fp32 (exec_layouts): the fp32
// summation order differs between layouts (the norm over two stages), and where that moves a
// master weight across a bf16 rounding boundary its compute copy differs by one bf16 ulp
// (2^-8 relative); measured differences are ~1e-4, the bound is 2e-3.
BOOST_AUTO_TEST_CASE(bf16_pipeline_matches_one_rank) {
  const Text text;
  const std::vector<Step> one = train(text, "bf16_one", "bf16", 4);
  const std::string run_dir = text.dir.path() + "/bf16_pp2";
  std::vector<std::string> argv = {"mpirun", "--oversubscribe", "-np", "2", LLMRT_CLI_BINARY, "run",
                                   source_path("configs/local-cpu.toml"), "--set", "train.precision=\"bf16\"",
                                   "--set", "train.steps=4"};
  for (const std::string& arg : small_model(text.shards, run_dir)) argv.push_back(arg);
  const ProcessResult result = run_process(argv, mpirun_env(), "", 240);
  BOOST_TEST_INFO("stderr: " << result.err << "\nstdout: " << result.out);
  BOOST_REQUIRE(result.exit_code == 0);
  BOOST_TEST(result.out.find("pp 2 · tp 1 · dp 1") != std::string::npos);
  const std::vector<Step> two = read_steps(run_dir);
  BOOST_REQUIRE(two.size() == one.size());
  for (std::size_t i = 0; i < one.size(); ++i) {
    BOOST_TEST(std::abs(two[i].loss - one[i].loss) < 2e-3, "step " << i + 1 << ": " << two[i].loss << " vs " << one[i].loss);
  }
}

// fp16 over two pipeline ranks with the overflow on rank 1 only: both ranks skip step 2 (the
// decision is agreed), and the run finishes.
BOOST_AUTO_TEST_CASE(fp16_overflow_on_one_rank_skips_on_all) {
  const Text text;
  const std::string run_dir = text.dir.path() + "/fp16_pp2";
  std::vector<std::string> argv = {"mpirun", "--oversubscribe", "-np", "2", LLMRT_CLI_BINARY, "run",
                                   source_path("configs/local-cpu.toml"), "--set", "train.precision=\"fp16\"",
                                   "--set", "train.steps=3", "--inject-fault", "1:2:overflow"};
  for (const std::string& arg : small_model(text.shards, run_dir)) argv.push_back(arg);
  const ProcessResult result = run_process(argv, mpirun_env(), "", 240);
  BOOST_TEST_INFO("stderr: " << result.err << "\nstdout: " << result.out);
  BOOST_REQUIRE(result.exit_code == 0);
  const std::vector<Step> steps = read_steps(run_dir);
  BOOST_REQUIRE(steps.size() == 3u);
  BOOST_TEST(!steps[0].skipped);
  BOOST_TEST(steps[1].skipped);
  BOOST_TEST(!steps[2].skipped);
  BOOST_TEST(steps[2].loss_scale == 32768.0);
  BOOST_TEST(result.out.find("step 2/3 | loss") != std::string::npos);
  BOOST_TEST(result.out.find("skipped: fp16 gradients overflowed at loss scale 65536, now 32768") != std::string::npos);
}

// precision = "auto" in a mixed room, rehearsed: two A100s (bf16) and two CPU ranks (fp32) as
// four pipeline stages. The stage boundary between them converts bf16 to fp32 and back; the
// plan paragraph says which ranks run what; the losses track a one-rank fp32 run as bf16 does.
BOOST_AUTO_TEST_CASE(auto_precision_runs_each_stage_at_its_cards_best) {
  const Text text;
  const std::string room_cluster = R"(
[cluster]
name = "mixed-room"
[[cluster.node]]
name = "gpu01"
gpus = { model = "A100-80GB-SXM", count = 2 }
[[cluster.node]]
name = "cpu01"
cpus = { ranks = 2, threads_per_rank = 1 }
)";
  const std::string cpu_cluster = R"(
[cluster]
name = "cpus"
[[cluster.node]]
name = "cpu01"
cpus = { ranks = 4, threads_per_rank = 1 }
)";
  const std::string job = R"(
[model]
name = "room"
seq_len = 64
vocab_size = 256
[[model.layer]]
component = "gpt.embedding"
d_model = 64
[[model.layer]]
component = "gpt.block"
repeat = 2
d_model = 64
heads = 4
[[model.layer]]
component = "gpt.head"
[parallel]
pp = 4
tp = 1
dp = 1
stage_layers = [1, 1, 1, 1]
microbatch_size = 2
[train]
global_batch = 8
precision = "auto"
optimizer = { component = "adamw", lr = 1e-3 }
[metrics]
log_every = 1
prometheus = ""
)";
  const std::string config = text.dir.write("room.toml", room_cluster + job);
  // The reference: the same model and seed on CPU ranks in fp32 (the room runs "auto").
  const std::string reference = text.dir.write("cpus.toml", cpu_cluster + job);
  const std::string run_dir = text.dir.path() + "/room";
  const std::vector<std::string> common = {"--set", "data.train=" + text.shards, "--set", "train.steps=6",
                                           "--set", "metrics.run_dir=" + run_dir};
  std::vector<std::string> argv = {"mpirun", "--oversubscribe", "-np", "4", LLMRT_CLI_BINARY, "run", config, "--rehearse"};
  argv.insert(argv.end(), common.begin(), common.end());
  const ProcessResult room = run_process(argv, mpirun_env(), "", 240);
  BOOST_TEST_INFO("stderr: " << room.err << "\nstdout: " << room.out);
  BOOST_REQUIRE(room.exit_code == 0);
  BOOST_TEST(room.out.find("precision auto: bf16 on ranks 0-1, fp32 on ranks 2-3") != std::string::npos);
  const std::vector<Step> mixed = read_steps(run_dir);

  std::vector<std::string> one_args = {"run", reference, "--set", "train.precision=\"fp32\"", "--set",
                                       "data.train=" + text.shards, "--set", "train.steps=6", "--set",
                                       "metrics.run_dir=" + run_dir + "_fp32"};
  const ProcessResult one = run_llmrt(one_args);
  BOOST_REQUIRE_MESSAGE(one.exit_code == 0, one.err);
  const std::vector<Step> fp32 = read_steps(run_dir + "_fp32");
  BOOST_REQUIRE(mixed.size() == 6u);
  BOOST_REQUIRE(fp32.size() == 6u);
  int differing = 0;
  for (std::size_t i = 0; i < fp32.size(); ++i) {
    BOOST_TEST(std::abs(mixed[i].loss - fp32[i].loss) < 0.02, "step " << i + 1);
    BOOST_TEST(mixed[i].loss_scale == 1.0);  // no fp16 rank: no loss scale
    differing += mixed[i].loss != fp32[i].loss;
  }
  BOOST_TEST(differing > 0);  // the bf16 stages really round
}

// precision = "auto" in a room with a card that lacks bf16, rehearsed: two V100s (fp16 under
// the loss scale) and two A100s (bf16) as four pipeline stages. `check --rehearse` passes (it
// was refused while the GPT layers ran bf16 only on CUDA), and the run says which ranks run
// what and trains under the dynamic loss scale.
BOOST_AUTO_TEST_CASE(auto_precision_puts_fp16_on_cards_without_bf16) {
  TempDir dir("mixed_precision_auto_v100");
  const std::string config = dir.write("v100.toml", v100_a100_room_config(R"(steps = 2
precision = "auto"
[metrics]
log_every = 1
prometheus = ""
)"));
  const ProcessResult check = run_llmrt({"check", config, "--rehearse"});
  BOOST_TEST(check.exit_code == 0, check.err);
  BOOST_TEST(check.out.find("rehearsal: 2 × V100-32GB + 2 × A100-80GB-SXM played by 4 CPU ranks") != std::string::npos,
             check.out);
  const std::string run_dir = dir.path() + "/run";
  const ProcessResult run = run_process({"mpirun", "--oversubscribe", "-np", "4", LLMRT_CLI_BINARY, "run", config,
                                         "--rehearse", "--set", "metrics.run_dir=\"" + run_dir + "\""},
                                        mpirun_env(), "", 240);
  BOOST_TEST_INFO("stderr: " << run.err << "\nstdout: " << run.out);
  BOOST_REQUIRE(run.exit_code == 0);
  BOOST_TEST(run.out.find("precision auto: fp16 on ranks 0-1, bf16 on ranks 2-3 (dynamic loss scale from 65536)") !=
             std::string::npos);
  const std::vector<Step> steps = read_steps(run_dir);
  BOOST_REQUIRE(steps.size() == 2u);
  for (const Step& step : steps) {
    BOOST_TEST(step.loss_scale == 65536.0);
    BOOST_TEST(!step.skipped);
    BOOST_TEST(std::isfinite(step.loss));
  }
}
