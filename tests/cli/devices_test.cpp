// No silent fallback: a config whose GPUs this host does not have, or whose nodes are other
// hosts, is refused before step 0 (exit 2, one message naming the node, what it expects and
// what the host has), with nothing written to run_dir; --rehearse runs it on CPU ranks.
#define BOOST_TEST_MODULE cli_devices
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/process.h"

using llmrt::test::ProcessResult;
using llmrt::test::TempDir;
using llmrt::test::host_name;
using llmrt::test::run_llmrt;
using llmrt::test::source_path;

namespace {

bool has(const std::string& text, const std::string& piece) { return text.find(piece) != std::string::npos; }


// GPUs nvidia-smi lists on this machine (0 without the tool or a driver).
int gpus_listed() {
  const ProcessResult listed = llmrt::test::run_process({"nvidia-smi", "-L"}, {}, "", 30);
  if (listed.exit_code != 0) return 0;
  int count = 0;
  std::istringstream lines(listed.out);
  for (std::string line; std::getline(lines, line);) count += line.rfind("GPU ", 0) == 0 ? 1 : 0;
  return count;
}

// A tiny model on `nodes` (TOML [[cluster.node]] tables), pp = tp = 1 and dp = ranks.
std::string tiny_config(const TempDir& dir, const std::string& nodes, int ranks) {
  return dir.write("tiny.toml", "[cluster]\n" + nodes + R"(
[model]
seq_len = 16
vocab_size = 64
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
pp = 1
tp = 1
dp = )" + std::to_string(ranks) + R"(
microbatch_size = 1
[train]
steps = 2
global_batch = )" + std::to_string(ranks) + R"(
optimizer = { component = "adamw", lr = 1e-3 }
lr_schedule = { component = "constant" }
[metrics]
run_dir = ")" + dir.path() + R"(/run"
)");
}

ProcessResult mpirun_llmrt(int ranks, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"mpirun", "--oversubscribe", "-np", std::to_string(ranks), LLMRT_CLI_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return llmrt::test::run_process(argv, llmrt::test::mpirun_env(), "", 120);
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_gpu_config_without_its_gpu_is_refused_before_anything_is_written) {
  if (gpus_listed() > 0) {
    // The H100 config may then find a card; the next test still runs, with more ranks than cards.
    BOOST_TEST_MESSAGE("skipped: nvidia-smi lists a GPU, so this host may have the H100 the config names");
    return;
  }
  TempDir dir("devices_h100");
  const ProcessResult result = run_llmrt({source_path("configs/gpt2-124m-h100.toml"), "--set",
                                          "metrics.run_dir=\"" + dir.path() + "/run\""});
  BOOST_TEST_INFO(result.err);
  BOOST_TEST(result.exit_code == 2);
  BOOST_TEST(has(result.err, "node localhost expects 1 × H100-SXM; this host (" + host_name() + ") has no CUDA device ("));
  BOOST_TEST(has(result.err, "`--rehearse` runs the same job on CPU ranks"));
  BOOST_TEST(!has(result.out, "step 1/"));
  BOOST_TEST(!std::filesystem::exists(dir.path() + "/run"));
}

BOOST_AUTO_TEST_CASE(more_local_ranks_than_gpus_is_refused) {
  const int ranks = std::max(2, gpus_listed() + 1);
  TempDir dir("devices_too_few");
  const std::string node = "[[cluster.node]]\nname = \"localhost\"\ngpus = { model = \"H100-SXM\", count = " +
                           std::to_string(ranks) + " }\n";
  // A precision the GPT layers run on CUDA (any of fp32, bf16, fp16 now), so `check` passes and
  // placement is what refuses.
  const ProcessResult result =
      mpirun_llmrt(ranks, {"run", tiny_config(dir, node, ranks), "--set", "train.precision=\"bf16\""});
  BOOST_TEST_INFO(result.err);
  BOOST_TEST(result.exit_code == 2);
  BOOST_TEST(has(result.err, "node localhost expects " + std::to_string(ranks) + " × H100-SXM; this host (" + host_name() +
                                 ") has "));
  BOOST_TEST((has(result.err, "has no CUDA device (") ||
              has(result.err, "for its " + std::to_string(ranks) + " local ranks")));
  BOOST_TEST(!std::filesystem::exists(dir.path() + "/run"));
}

BOOST_AUTO_TEST_CASE(a_rank_on_another_host_than_its_node_is_refused) {
  TempDir dir("devices_hosts");
  const std::string nodes = "[[cluster.node]]\nname = \"llmrt-node-a\"\ncpus = { ranks = 1 }\n"
                            "[[cluster.node]]\nname = \"llmrt-node-b\"\ncpus = { ranks = 1 }\n";
  const std::string config = tiny_config(dir, nodes, 2);
  const ProcessResult result = mpirun_llmrt(2, {"run", config});
  BOOST_TEST_INFO(result.err);
  BOOST_TEST(result.exit_code == 2);
  BOOST_TEST(has(result.err, "rank 0 runs on host " + host_name() +
                                 ", but the topology places it on node llmrt-node-a ([[cluster.node]] 1 of 2)"));
  BOOST_TEST(has(result.err, "hostfile"));
  BOOST_TEST(!std::filesystem::exists(dir.path() + "/run"));

  // Rehearsed, the same job runs here, and says what it skipped.
  const ProcessResult rehearsed = mpirun_llmrt(2, {"run", config, "--rehearse"});
  BOOST_TEST_INFO(rehearsed.err);
  BOOST_TEST(rehearsed.exit_code == 0);
  BOOST_TEST(has(rehearsed.out, "rehearsal: 2 × cpu played by 2 CPU ranks on " + host_name()));
  BOOST_TEST(has(rehearsed.out, "step 2/2"));

  // `check` under the launcher holds the hosts to the topology as `run` does.
  const ProcessResult checked = mpirun_llmrt(2, {"check", config});
  BOOST_TEST_INFO(checked.err);
  BOOST_TEST(checked.exit_code == 2);
  BOOST_TEST(has(checked.err, "rank 0 runs on host " + host_name() + ", but the topology places it on node llmrt-node-a"));
}

// The H100 job rehearses at its own precision: the GPT layers run bf16 on CPU ranks (16-bit
// storage, fp32 arithmetic), so the rehearsal exercises the mixed-precision logic too.
BOOST_AUTO_TEST_CASE(a_bf16_job_rehearses_in_bf16) {
  TempDir dir("devices_rehearse_bf16");
  const ProcessResult result =
      run_llmrt({"run", source_path("configs/gpt2-124m-h100.toml"), "--rehearse", "--set", "model.seq_len=16",
                 "--set", "model.vocab_size=64", "--set", "model.layer[0].d_model=32", "--set", "model.layer[1].d_model=32",
                 "--set", "model.layer[1].heads=4", "--set", "model.layer[1].repeat=1", "--set", "train.steps=2",
                 "--set", "parallel.microbatch_size=1", "--set", "train.global_batch=1", "--set",
                 "metrics.run_dir=\"" + dir.path() + "/run\"", "--set",
                 "checkpoint.dir=\"" + dir.path() + "/ckpt\""});  // the config's [checkpoint], kept apart
  BOOST_TEST_INFO(result.err << result.out);
  BOOST_REQUIRE(result.exit_code == 0);
  BOOST_TEST(has(result.out, "rehearsal"));
  BOOST_TEST(has(result.out, "step 2/2 | loss"));
  std::ifstream metrics(dir.path() + "/run/metrics.jsonl");
  std::string first;
  BOOST_REQUIRE(std::getline(metrics, first));
  BOOST_TEST(has(first, "\"loss_scale\":1.0"), first);  // bf16: no loss scale
}

// --share-gpus (for tests: ranks sharing a GPU) still needs one: on a host without any it is
// refused as any GPU job is, naming the node and what the host lacks.
BOOST_AUTO_TEST_CASE(sharing_gpus_needs_at_least_one) {
  if (gpus_listed() > 0) {
    BOOST_TEST_MESSAGE("skipped: this host has a GPU, so sharing it is not refused");
    return;
  }
  TempDir dir("devices_share");
  const ProcessResult result = run_llmrt({"run", source_path("configs/gpt2-124m-h100.toml"), "--share-gpus", "--set",
                                          "metrics.run_dir=\"" + dir.path() + "/run\""});
  BOOST_TEST(result.exit_code == 2, result.err);
  BOOST_TEST(has(result.err, "node localhost expects 1 × H100-SXM; this host"), result.err);
  BOOST_TEST(has(result.err, "has no CUDA device"), result.err);
  BOOST_TEST(!std::filesystem::exists(dir.path() + "/run"));
}
