// No key that lies: every key in the schema either changes what llmrt does — shown here by
// running llmrt with and without it and comparing what came out — or names the test that
// proves its effect (keys whose effect needs a hang, a second launch or a scrape). A new key
// with neither fails this test.
#define BOOST_TEST_MODULE config_every_key_acts
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "config/schema.h"
#include "support/process.h"

using namespace llmrt;
using llmrt::test::TempDir;

namespace {

// The job each probe starts from.
enum class Scenario { kCpu, kGpu, kTwoNodes, kCustomCard };
// What is compared: the printout of check / plan / sweep, or a run's metrics, files and log.
enum class Command { kCheck, kPlan, kSweep, kRun };

struct Probe {
  std::string key;
  Scenario scenario;
  Command command;
  std::vector<std::string> base;  // --set for both runs: where the key matters
  std::string value;              // the key's value in the second run
  std::vector<std::string> also;  // --set for the second run only: what the new value needs
  std::string path;               // the key as `--set` spells it, when not the schema path at [0]
};

// Keys whose effect another test proves: the key, and that test's source (which must name it).
struct Proven {
  std::string key;
  std::string test_source;  // under tests/
};

const std::string kCpuJob = R"([cluster]
name = "probe"
[[cluster.node]]
name = "localhost"
cpus = { ranks = 1, threads_per_rank = 1 }
[model]
name = "probe-gpt"
seq_len = 16
vocab_size = 256
[[model.layer]]
component = "gpt.embedding"
d_model = 32
[[model.layer]]
component = "gpt.block"
repeat = 2
d_model = 32
heads = 2
[[model.layer]]
component = "gpt.head"
tied_embedding = true
[parallel]
pp = 1
tp = 1
dp = 1
[train]
steps = 3
global_batch = 4
optimizer = { component = "adamw", lr = 1e-3 }
[metrics]
prometheus = ""
log_every = 1
)";

// One node of GPUs (check and plan only: nothing runs on them).
const std::string kGpuCluster = R"([cluster]
name = "probe"
[[cluster.node]]
name = "gpu-node"
gpus = { model = "A100-80GB-SXM", count = 4 }
links = [ { kind = "nvlink", gpus = "0-3" } ]
)";

const std::string kTwoNodeCluster = R"([cluster]
name = "probe"
[[cluster.node]]
name = "gpu-a"
gpus = { model = "A100-80GB-SXM", count = 2 }
[[cluster.node]]
name = "gpu-b"
gpus = { model = "A100-80GB-SXM", count = 2 }
[cluster.network]
kind = "ethernet"
)";

const std::string kCustomCardCluster = R"([cluster]
name = "probe"
[[cluster.device_model]]
name = "probe-card"
memory_gib = 24
peak_tflops = { fp32 = 30, tf32 = 60, fp16 = 120, bf16 = 120 }
memory_bandwidth_gbps = 7000
tdp_w = 300
[[cluster.node]]
name = "gpu-node"
gpus = { model = "probe-card", count = 4 }
links = [ { kind = "pcie", gpus = "0-3" } ]
[cluster.network]
kind = "ethernet"
)";

// The model and job of kCpuJob after its [cluster] (from "[model]" on), for the GPU scenarios;
// sized so that the planner has several layouts to rank.
std::string gpu_job(const std::string& cluster) {
  std::string job = kCpuJob.substr(kCpuJob.find("[model]"));
  job = std::regex_replace(job, std::regex("seq_len = 16"), "seq_len = 1024");
  job = std::regex_replace(job, std::regex("d_model = 32"), "d_model = 768");
  job = std::regex_replace(job, std::regex("heads = 2"), "heads = 12");
  job = std::regex_replace(job, std::regex("repeat = 2"), "repeat = 12");
  job = std::regex_replace(job, std::regex("pp = 1\ntp = 1\ndp = 1\n"), "");
  job = std::regex_replace(job, std::regex("global_batch = 4"), "global_batch = 64");
  job = std::regex_replace(job, std::regex("steps = 3\n"), "steps = 3\nprecision = \"bf16\"\n");
  return cluster + job + "[train.lr_schedule]\ncomponent = \"constant\"\n";
}

std::string job_text(Scenario scenario) {
  switch (scenario) {
    case Scenario::kCpu: return kCpuJob;
    case Scenario::kGpu: return gpu_job(kGpuCluster);
    case Scenario::kTwoNodes: return gpu_job(kTwoNodeCluster);
    case Scenario::kCustomCard: return gpu_job(kCustomCardCluster);
  }
  return "";
}

using S = Scenario;
using C = Command;

const std::vector<Probe> kProbes = {
    {"cluster.name", S::kCpu, C::kCheck, {}, "\"other\""},
    {"cluster.power_overhead_w_per_node", S::kGpu, C::kPlan, {}, "900"},
    {"cluster.price_per_kwh", S::kGpu, C::kPlan, {}, "0.3"},
    {"cluster.currency", S::kGpu, C::kPlan, {"cluster.price_per_kwh=0.3"}, "\"EUR\""},
    {"cluster.node[].name", S::kCpu, C::kCheck, {}, "\"elsewhere\""},
    {"cluster.node[].gpus.model", S::kGpu, C::kCheck, {}, "\"H100-SXM\""},
    {"cluster.node[].gpus.count", S::kGpu, C::kCheck, {}, "8"},
    {"cluster.node[].gpus.compute_efficiency", S::kGpu, C::kPlan, {}, "0.3"},
    {"cluster.node[].cpus.ranks", S::kCpu, C::kCheck, {"parallel.dp=\"auto\""}, "2"},
    {"cluster.node[].cpus.threads_per_rank", S::kCpu, C::kCheck, {}, "2"},
    {"cluster.node[].links[].kind", S::kGpu, C::kCheck, {}, "\"pcie\""},
    {"cluster.node[].links[].gpus", S::kGpu, C::kCheck, {}, "\"0-1\""},
    {"cluster.node[].links[].bandwidth_gbps", S::kGpu, C::kCheck, {}, "1000"},
    {"cluster.node[].links[].latency_us", S::kGpu, C::kCheck, {}, "9"},
    {"cluster.network.kind", S::kTwoNodes, C::kCheck, {}, "\"infiniband\""},
    {"cluster.network.bandwidth_gbps", S::kTwoNodes, C::kCheck, {}, "25"},
    {"cluster.network.latency_us", S::kTwoNodes, C::kCheck, {}, "7"},
    {"cluster.device_model[].name", S::kCustomCard, C::kCheck, {}, "\"card-2\"",
     {"cluster.node[0].gpus.model=\"card-2\""}},
    {"cluster.device_model[].memory_gib", S::kCustomCard, C::kCheck, {}, "48"},
    {"cluster.device_model[].peak_tflops.fp32", S::kCustomCard, C::kCheck, {}, "31"},
    {"cluster.device_model[].peak_tflops.tf32", S::kCustomCard, C::kCheck, {}, "61"},
    {"cluster.device_model[].peak_tflops.fp16", S::kCustomCard, C::kCheck, {}, "121"},
    {"cluster.device_model[].peak_tflops.bf16", S::kCustomCard, C::kCheck, {}, "122"},
    {"cluster.device_model[].memory_bandwidth_gbps", S::kCustomCard, C::kPlan, {}, "700"},
    {"cluster.device_model[].tdp_w", S::kCustomCard, C::kCheck, {}, "450"},
    {"cluster.device_model[].nvlink_bandwidth_gbps", S::kCustomCard, C::kPlan,
     {"cluster.node[0].links[0].kind=\"nvlink\"", "cluster.device_model[0].nvlink_bandwidth_gbps=50"}, "400"},
    {"cluster.device_model[].pcie_bandwidth_gbps", S::kCustomCard, C::kPlan, {}, "16"},
    {"model.name", S::kCpu, C::kCheck, {}, "\"renamed\""},
    {"model.seq_len", S::kCpu, C::kCheck, {}, "32"},
    {"model.vocab_size", S::kCpu, C::kCheck, {}, "300"},
    // check's model summary says "vocab_size 256 (padded to 300: ...)" and counts the padded rows.
    {"model.vocab_pad_multiple", S::kCpu, C::kCheck, {}, "100"},
    // The blocks, not the embedding: a repeated embedding would take activations for token ids.
    {"model.layer[].repeat", S::kCpu, C::kCheck, {}, "3", {}, "model.layer[1].repeat"},
    // `check` prints each stage's recompute modes ("recompute: stage 0 full").
    {"model.layer[].recompute", S::kCpu, C::kCheck, {}, "\"full\"", {}, "model.layer[1].recompute"},
    {"parallel.pp", S::kGpu, C::kCheck, {}, "2"},
    {"parallel.tp", S::kGpu, C::kCheck, {}, "2"},
    {"parallel.dp", S::kGpu, C::kCheck, {}, "2"},
    {"parallel.schedule", S::kGpu, C::kCheck, {"parallel.pp=2"}, "\"gpipe\""},
    {"parallel.virtual_stages", S::kGpu, C::kCheck, {"parallel.pp=2", "parallel.schedule=\"interleaved-1f1b\""}, "2"},
    {"parallel.microbatch_size", S::kGpu, C::kCheck, {}, "2"},
    {"parallel.stage_layers", S::kGpu, C::kCheck, {"parallel.pp=2", "parallel.tp=1", "parallel.dp=2"}, "[4, 10]"},
    {"parallel.zero", S::kGpu, C::kPlan, {}, "1"},  // the planner's savers column
    {"train.steps", S::kCpu, C::kRun, {}, "2"},
    {"train.global_batch", S::kCpu, C::kRun, {}, "8"},
    {"train.precision", S::kCpu, C::kRun, {}, "\"bf16\""},
    {"train.loss_scale_init", S::kCpu, C::kRun, {"train.precision=\"fp16\""}, "1024.0"},
    {"train.loss_scale_window", S::kCpu, C::kRun, {"train.precision=\"fp16\""}, "2"},
    {"train.grad_clip", S::kCpu, C::kRun, {}, "0.01"},
    {"train.seed", S::kCpu, C::kRun, {}, "7"},
    {"train.recompute", S::kCpu, C::kCheck, {}, "\"full\""},
    {"train.optimizer.component", S::kCpu, C::kRun, {}, "\"sgd\""},
    {"train.lr_schedule.component", S::kCpu, C::kRun, {}, "\"cosine\""},
    {"data.train", S::kCpu, C::kRun, {}, "SHARDS_TRAIN"},
    {"data.shuffle", S::kCpu, C::kRun, {"data.train=SHARDS_TRAIN"}, "false"},
    {"data.val", S::kCpu, C::kRun, {"data.train=SHARDS_TRAIN"}, "SHARDS_VAL"},
    {"data.val_every", S::kCpu, C::kRun, {"data.train=SHARDS_TRAIN", "data.val=SHARDS_VAL"}, "1"},
    {"data.val_sequences", S::kCpu, C::kRun, {"data.train=SHARDS_TRAIN", "data.val=SHARDS_VAL"}, "8"},
    {"checkpoint.dir", S::kCpu, C::kRun, {}, "CHECKPOINT_DIR", {"checkpoint.every=2"}},
    {"checkpoint.every", S::kCpu, C::kRun, {"checkpoint.dir=CHECKPOINT_DIR", "checkpoint.every=2"}, "1"},
    {"checkpoint.keep", S::kCpu, C::kRun, {"checkpoint.dir=CHECKPOINT_DIR", "checkpoint.every=1"}, "1"},
    {"metrics.run_dir", S::kCpu, C::kRun, {}, "RUN_DIR_OTHER"},
    {"metrics.tensorboard", S::kCpu, C::kRun, {}, "false"},
    {"metrics.sample_every", S::kCpu, C::kRun, {}, "2"},
    {"metrics.sample_prompt", S::kCpu, C::kRun, {"metrics.sample_every=2"}, "\"To be\""},
    {"metrics.log_every", S::kCpu, C::kRun, {"train.steps=5"}, "2"},
    {"plan.compute_efficiency", S::kGpu, C::kPlan, {}, "0.3"},
    {"plan.network_efficiency", S::kTwoNodes, C::kPlan, {}, "0.2"},
    {"plan.workspace_gib", S::kGpu, C::kPlan, {}, "60"},
    {"plan.top", S::kGpu, C::kPlan, {}, "2"},
    {"sweep.pp", S::kGpu, C::kSweep, {}, "[1, 2]"},
    {"sweep.tp", S::kGpu, C::kSweep, {}, "[1, 2]"},
    {"sweep.dp", S::kGpu, C::kSweep, {}, "[1, 2]"},
    {"sweep.schedule", S::kGpu, C::kSweep, {"sweep.pp=[2]"}, "[\"gpipe\"]"},
    {"sweep.microbatch_size", S::kGpu, C::kSweep, {}, "[2]"},
    {"sweep.virtual_stages", S::kGpu, C::kSweep, {"sweep.pp=[2]", "sweep.schedule=[\"interleaved-1f1b\"]"}, "[2]"},
};

const std::vector<Proven> kProven = {
    // Overlapped and blocking all-gathers: the same losses, timed apart (bit for bit).
    {"parallel.zero_overlap", "exec/zero_test.cpp"},
    {"include", "config/config_reader_test.cpp"},
    {"model.plugin_paths", "plugin/plugin_loader_test.cpp"},
    {"model.layer[].component", "plugin/plugin_sdk_install_test.cpp"},  // a third-party layer trained
    {"train.timeout_s", "exec/watchdog_run_test.cpp"},
    // A layer that makes a NaN, and one that writes past its parameter slice, named in the run.
    {"train.detect_anomaly", "reliability/cases/plugin_mistakes.cases"},
    {"train.guard_params", "reliability/cases/plugin_mistakes.cases"},
    // Needs a GPU rank or --rehearse: the rehearsed graph run gives the eager numbers, and a
    // layer that allocates inside the captured step is named.
    {"train.cuda_graph", "exec/cuda_graph_test.cpp"},
    {"model.init_from", "infer/infer_models_test.cpp"},       // a trained model continued from its file
    {"checkpoint.resume", "ckpt/resume_test.cpp"},            // a second launch continues the first
    {"metrics.prometheus", "cli/watch_run_test.cpp"},         // the endpoint scraped during a run
    {"sweep.measure_top_k", "cli/plan_test.cpp"},
    {"sweep.measure_steps", "cli/plan_test.cpp"},
    // Param groups: against PyTorch's AdamW with the same groups, and under ZeRO-1.
    {"train.param_group[].match", "exec/torch_equivalence_test.cpp"},
    {"train.param_group[].lr_scale", "exec/torch_equivalence_test.cpp"},
    {"train.param_group[].weight_decay", "exec/torch_equivalence_test.cpp"},
    {"train.param_group[].ndim", "exec/param_groups_test.cpp"},  // a 3-D group's values resolved
};

bool is_leaf(const KeyInfo& info) {
  return info.type != KeyType::kTable && info.type != KeyType::kTableArray && info.type != KeyType::kComponent;
}

// The schema path's key as `--set` spells it: "cluster.node[].name" -> "cluster.node[0].name".
std::string set_path(const std::string& schema_path) { return std::regex_replace(schema_path, std::regex("\\[\\]"), "[0]"); }

std::string read_file(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// metrics.jsonl without the fields that measure time, one line per record.
std::string metrics_without_timing(const std::string& path) {
  std::ifstream file(path);
  std::string out;
  for (std::string line; std::getline(file, line);) {
    auto record = nlohmann::json::parse(line, nullptr, false);
    if (record.is_discarded()) return "unparsable metrics.jsonl line: " + line;
    for (const char* timing : {"step_time_s", "tokens_per_s", "mfu", "seconds"}) record.erase(timing);
    out += record.dump() + "\n";
  }
  return out;
}

// Every file under `root`, relative, sorted; digits in TensorBoard file names (time, host) masked.
std::string file_listing(const std::string& root) {
  std::set<std::string> names;
  if (!std::filesystem::exists(root)) return "(none)";
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
    std::string name = std::filesystem::relative(entry.path(), root).string();
    if (name.find("tfevents") != std::string::npos) name = std::regex_replace(name, std::regex("[0-9]"), "#");
    names.insert(name);
  }
  std::string out;
  for (const std::string& name : names) out += name + "\n";
  return out;
}

}  // namespace

namespace {

class Observer {
 public:
  Observer() : dir_("every_key_acts") {
    auto prepared = llmrt::test::run_llmrt({"data", "prepare", "/usr/share/common-licenses/GPL-3", dir_.path() + "/gpl"});
    BOOST_REQUIRE_MESSAGE(prepared.exit_code == 0, prepared.err);
  }

  // What llmrt printed and left for `probe`, with its key set (or not).
  std::string observe(const Probe& probe, bool with_value) {
    const std::string config = dir_.write("job-" + std::to_string(static_cast<int>(probe.scenario)) + ".toml",
                                          job_text(probe.scenario));
    const std::string outputs = dir_.path() + "/out-" + std::to_string(runs_++);
    std::vector<std::string> args = {command_name(probe.command), config};
    if (probe.command == Command::kRun) args.push_back("--set=metrics.run_dir=\"" + outputs + "/run\"");
    std::vector<std::string> sets;
    for (const std::string& set : probe.base) sets.push_back(expand(set, outputs));
    if (with_value) {
      sets.push_back((probe.path.empty() ? set_path(probe.key) : probe.path) + "=" + expand(probe.value, outputs));
      for (const std::string& set : probe.also) sets.push_back(expand(set, outputs));
    }
    for (const std::string& set : sets) args.push_back("--set=" + set);
    auto result = llmrt::test::run_llmrt(args);
    BOOST_TEST_INFO("llmrt " << fmt::format("{}", fmt::join(args, " ")) << "\n" << result.err);
    BOOST_TEST(result.exit_code == 0);
    if (probe.command != Command::kRun) return result.out;
    // The log with every digit masked (times, rates): what it says, not how fast.
    const std::string log = std::regex_replace(result.out, std::regex("[0-9]"), "#");
    std::string metrics_dir = outputs + "/run";
    if (with_value && probe.key == "metrics.run_dir") metrics_dir = outputs + "/other-run";
    return "metrics:\n" + metrics_without_timing(metrics_dir + "/metrics.jsonl") + "files:\n" +
           file_listing(outputs) + "log:\n" + log;
  }

 private:
  static std::string command_name(Command command) {
    switch (command) {
      case Command::kCheck: return "check";
      case Command::kPlan: return "plan";
      case Command::kSweep: return "sweep";
      case Command::kRun: return "run";
    }
    return "";
  }

  std::string expand(std::string value, const std::string& outputs) const {
    value = std::regex_replace(value, std::regex("SHARDS_TRAIN"), "\"" + dir_.path() + "/gpl_train.bin\"");
    value = std::regex_replace(value, std::regex("SHARDS_VAL"), "\"" + dir_.path() + "/gpl_val.bin\"");
    value = std::regex_replace(value, std::regex("CHECKPOINT_DIR"), "\"" + outputs + "/ckpt\"");
    return std::regex_replace(value, std::regex("RUN_DIR_OTHER"), "\"" + outputs + "/other-run\"");
  }

  TempDir dir_;
  int runs_ = 0;
};

}  // namespace

BOOST_AUTO_TEST_CASE(every_schema_key_is_probed_here_or_proven_by_a_named_test) {
  std::map<std::string, int> covered;
  for (const Probe& probe : kProbes) ++covered[probe.key];
  for (const Proven& proven : kProven) {
    ++covered[proven.key];
    const std::string source = read_file(llmrt::test::source_path("tests/" + proven.test_source));
    const std::string leaf = proven.key.substr(proven.key.rfind('.') + 1);
    BOOST_TEST_INFO(proven.key << " is said to be proven by tests/" << proven.test_source);
    BOOST_TEST(source.find(leaf) != std::string::npos);
  }
  std::set<std::string> leaves;
  for (const KeyInfo& info : config_schema()) {
    if (!is_leaf(info)) continue;
    leaves.insert(std::string(info.path));
    BOOST_TEST_INFO("key " << info.path << ": no probe here and no test named for it; a key nothing acts on lies");
    BOOST_TEST(covered[std::string(info.path)] == 1);
  }
  for (const auto& [key, count] : covered) {
    BOOST_TEST_INFO(key << " is probed but is not a key of the schema");
    BOOST_TEST(leaves.count(key) == 1u);
  }
}

BOOST_AUTO_TEST_CASE(each_probed_key_changes_what_llmrt_does) {
  Observer observer;
  std::map<std::string, std::string> baselines;  // by scenario, command and base sets
  for (const Probe& probe : kProbes) {
    BOOST_TEST_CONTEXT("key " << probe.key << " = " << probe.value) {
      const std::string baseline_key = fmt::format("{}/{}/{}", static_cast<int>(probe.scenario),
                                                   static_cast<int>(probe.command), fmt::join(probe.base, ";"));
      // A run's baseline is taken again each time: its files are listed under its own folder.
      if (!baselines.count(baseline_key)) baselines[baseline_key] = observer.observe(probe, false);
      const std::string with_key = observer.observe(probe, true);
      BOOST_TEST(with_key != baselines[baseline_key], "setting it changed nothing llmrt printed or wrote");
    }
  }
}
