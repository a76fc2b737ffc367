// --rehearse: the exact 16-rank job of configs/dgx-a100-2node.toml on CPU ranks (mpirun
// --oversubscribe -np 16), the model shrunk with --set, pinned to pp 2 · tp 2 · dp 4, gives the
// losses and gradient norms of the same job on one rank (relative error < 1e-5) in fp32, as the
// issue asks, and in bf16 (the CPU ranks rounding where the A100s store 16 bits), and every
// command says it is a rehearsal; without --rehearse the same job is refused here.
#define BOOST_TEST_MODULE cli_rehearse
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "support/process.h"

using llmrt::test::ProcessResult;
using llmrt::test::TempDir;
using llmrt::test::host_name;
using llmrt::test::source_path;

namespace {

bool has(const std::string& text, const std::string& piece) { return text.find(piece) != std::string::npos; }


// The DGX job shrunk to run in a second on a laptop: same topology, same world, same
// schedule, a model of 0.05 M parameters on random tokens (so no validation), at `precision`
// (the GPT layers' CUDA branch takes fp32, bf16 and fp16 on the A100s).
std::vector<std::string> shrunk(const std::string& run_dir, const std::string& precision) {
  std::vector<std::string> args;
  for (const std::string& set : std::vector<std::string>{"model.seq_len=16", "model.vocab_size=64", "model.layer[0].d_model=32", "model.layer[1].d_model=32",
        "model.layer[1].heads=4", "model.layer[1].repeat=4", "train.steps=3", "train.global_batch=8",
        "train.precision=\"" + precision + "\"", "data.train=\"\"", "data.val=\"\"", "data.val_every=0", "train.optimizer.lr=3e-3", "train.lr_schedule.warmup_steps=0",
        "parallel.pp=2", "parallel.tp=2", "parallel.dp=4", "parallel.microbatch_size=1",
        std::string("metrics.run_dir=\"") + run_dir + "\"",
        // The config's [checkpoint] keeps the run's end: in the run folder, never resumed from.
        std::string("checkpoint.dir=\"") + run_dir + "/ckpt\"", std::string("checkpoint.resume=\"never\"")}) {
    args.push_back("--set");
    args.push_back(set);
  }
  return args;
}

struct Steps {
  std::vector<double> losses, grad_norms;
  int mfu_null = 0;  // steps whose "mfu" is null (n/a), not a number
};

Steps read_steps(const std::string& metrics) {
  Steps steps;
  std::ifstream file(metrics);
  for (std::string line; std::getline(file, line);) {
    const auto json = nlohmann::json::parse(line);
    steps.losses.push_back(json["loss"].get<double>());
    steps.grad_norms.push_back(json["grad_norm"].get<double>());
    if (json.contains("mfu") && json["mfu"].is_null()) ++steps.mfu_null;
  }
  return steps;
}

ProcessResult rehearse(const std::string& command, const std::vector<std::string>& launcher, const std::string& run_dir,
                       const std::string& precision = "fp32") {
  std::vector<std::string> argv = launcher;
  for (const std::string& arg : {std::string(LLMRT_CLI_BINARY), command, source_path("configs/dgx-a100-2node.toml"),
                                 std::string("--rehearse")}) {
    argv.push_back(arg);
  }
  for (const std::string& arg : shrunk(run_dir, precision)) argv.push_back(arg);
  return llmrt::test::run_process(argv, llmrt::test::mpirun_env(), "", 240);
}

void expect_close(const std::vector<double>& got, const std::vector<double>& want, const std::string& what) {
  BOOST_REQUIRE_MESSAGE(got.size() == 3u && want.size() == 3u, what << ": " << got.size() << " vs " << want.size());
  for (std::size_t step = 0; step < got.size(); ++step) {
    BOOST_TEST(std::abs(got[step] - want[step]) / std::abs(want[step]) < 1e-5,
               what << " step " << step + 1 << ": " << got[step] << " vs " << want[step]);
  }
}

}  // namespace

namespace {

void sixteen_ranks_match_one(const std::string& precision) {
  TempDir dir("rehearse_dgx_" + precision);
  const ProcessResult one = rehearse("run", {}, dir.path() + "/one", precision);
  BOOST_TEST_INFO("one rank: " << one.out << one.err);
  BOOST_REQUIRE(one.exit_code == 0);
  BOOST_TEST(has(one.out, "rehearsal: 16 × A100-80GB-SXM played by 1 CPU rank on " + host_name()));
  // MFU against an A100's peak would be a misleading ~0 %: the header says why it is n/a, and so do the steps.
  BOOST_TEST(has(one.out, "MFU: n/a (a rehearsal: CPU ranks play the A100-80GB-SXMs"));
  BOOST_TEST(has(one.out, "| MFU n/a |"));

  const ProcessResult sixteen =
      rehearse("run", {"mpirun", "--oversubscribe", "-np", "16"}, dir.path() + "/sixteen", precision);
  BOOST_TEST_INFO("16 ranks: " << sixteen.out << sixteen.err);
  BOOST_REQUIRE(sixteen.exit_code == 0);
  BOOST_TEST(has(sixteen.out, "on 16 ranks (pp 2 · tp 2 · dp 4"));
  BOOST_TEST(has(sixteen.out, "rehearsal: 16 × A100-80GB-SXM played by 16 CPU ranks on " + host_name()));
  BOOST_TEST(has(sixteen.out, "the checks of hosts, GPUs and their memory are skipped"));

  const Steps reference = read_steps(dir.path() + "/one/metrics.jsonl");
  const Steps rehearsed = read_steps(dir.path() + "/sixteen/metrics.jsonl");
  expect_close(rehearsed.losses, reference.losses, precision + " loss");
  expect_close(rehearsed.grad_norms, reference.grad_norms, precision + " grad norm");
  BOOST_TEST(reference.mfu_null == 3);  // every step's "mfu" is null in metrics.jsonl
  BOOST_TEST(reference.losses.front() != reference.losses.back());  // it trains: not a comparison of constants
}

}  // namespace

BOOST_AUTO_TEST_CASE(sixteen_cpu_ranks_rehearse_the_dgx_job_with_the_losses_of_one_rank) { sixteen_ranks_match_one("fp32"); }

BOOST_AUTO_TEST_CASE(the_bf16_rehearsal_matches_one_rank_too) { sixteen_ranks_match_one("bf16"); }

// At fp32, the config's own precision for this test: the GPT layers' CUDA branch takes f32,
// so `check` passes for the A100s the CPU ranks play (it refused CUDA at f32 before).
BOOST_AUTO_TEST_CASE(check_and_plan_say_it_is_a_rehearsal) {
  TempDir dir("rehearse_check_plan");
  const ProcessResult check = rehearse("check", {}, dir.path() + "/check");
  BOOST_TEST_INFO(check.out << check.err);
  BOOST_TEST(check.exit_code == 0);
  BOOST_TEST(has(check.out, "rehearsal: 16 × A100-80GB-SXM played by 16 CPU ranks"));

  const ProcessResult plan = rehearse("plan", {}, dir.path() + "/plan");
  BOOST_TEST_INFO(plan.out << plan.err);
  BOOST_TEST(plan.exit_code == 0);
  BOOST_TEST(has(plan.out, "16 devices (16 × A100-80GB-SXM) on 2 nodes"));  // the planner plans for the GPUs
  BOOST_TEST(has(plan.out, "rehearsal: predicted for the topology's devices"));
}

// Without --rehearse the same 16 ranks are refused before anything is written (here in the
// mpi tests, not the bad-input ones: 16 processes under the sanitizers take most of a minute).
BOOST_AUTO_TEST_CASE(without_rehearse_the_dgx_job_on_this_host_is_refused) {
  TempDir dir("devices_dgx");
  const ProcessResult result =
      llmrt::test::run_process({"mpirun", "--oversubscribe", "-np", "16", LLMRT_CLI_BINARY, "run",
                                source_path("configs/dgx-a100-2node.toml"), "--set",
                                "metrics.run_dir=\"" + dir.path() + "/run\""},
                               llmrt::test::mpirun_env(), "", 240);
  BOOST_TEST_INFO(result.err);
  BOOST_TEST(result.exit_code == 2);
  // Unless this host is called dgx01, its name is the first thing wrong; else its GPUs are.
  BOOST_TEST((has(result.err, "runs on host " + host_name() + ", but the topology places it on node dgx01") ||
              has(result.err, "node dgx01 expects 8 × A100-80GB-SXM; this host")));
  BOOST_TEST(!std::filesystem::exists(dir.path() + "/run"));
}
