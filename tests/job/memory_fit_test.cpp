// Memory fit before step 1 (job_checks.h): the planner's per-rank figure for a fixed layout —
// the same figure plan_layouts reports — held against a GPU's memory_gib and against the RAM of
// the host for the CPU ranks of a node together; resolve_job refuses what does not fit.
#define BOOST_TEST_MODULE job_memory_fit
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <numeric>

#include "job/job.h"
#include "job/job_checks.h"
#include "support/process.h"

using namespace llmrt;
using llmrt::test::TempDir;

namespace {

const char* kModel = R"(
[model]
seq_len = 64
vocab_size = 96
[[model.layer]]
component = "gpt.embedding"
d_model = 48
[[model.layer]]
component = "gpt.block"
repeat = 3
d_model = 48
heads = 2
[[model.layer]]
component = "gpt.head"
tied_embedding = true
[train]
steps = 3
global_batch = 6
)";

std::unique_ptr<OpenJob> open(const TempDir& dir, const std::string& cluster, const std::string& parallel,
                              std::vector<std::string> overrides = {}) {
  const std::string text = cluster + kModel + "[parallel]\n" + parallel + "\n";
  auto job = open_job(JobRequest{dir.write("job.toml", text), std::move(overrides), false, false}, World());
  BOOST_REQUIRE_MESSAGE(job.ok(), (job.ok() ? "" : job.error().message()));
  return std::move(*job);
}

const std::string kTwoCpuRanks = "[cluster]\n[[cluster.node]]\nname = \"localhost\"\ncpus = { ranks = 2 }\n";

}  // namespace

BOOST_AUTO_TEST_CASE(the_figure_is_the_planners_for_the_same_layout) {
  TempDir dir("fit_same_figure");
  auto job = open(dir, kTwoCpuRanks, "pp = 2\ntp = 1\ndp = 1\nmicrobatch_size = 1\nstage_layers = [1, 4]");
  auto resolved = resolve_job(*job, 2);
  BOOST_REQUIRE_MESSAGE(resolved.ok(), (resolved.ok() ? "" : resolved.error().message()));
  auto predicted = predict_rank_memory_gib(job->plan_request(2), resolved->layout);
  BOOST_REQUIRE(predicted.ok());
  PlanRequest request = job->plan_request(2);
  pin_parallel(request.parallel, resolved->layout);
  auto plan = plan_layouts(request);
  BOOST_REQUIRE(plan.ok());
  BOOST_REQUIRE(!plan->ranked.empty());
  // The planner also ranks other schedules for these degrees: the one run builds is among them.
  const auto same = std::find_if(plan->ranked.begin(), plan->ranked.end(), [&](const PlannedLayout& planned) {
    return planned.layout.schedule == resolved->layout.schedule &&
           planned.layout.microbatch_size == resolved->layout.microbatch_size &&
           planned.layout.stage_layers == resolved->layout.stage_layers;
  });
  BOOST_REQUIRE(same != plan->ranked.end());
  BOOST_TEST(*predicted == same->peak_memory_gib, boost::test_tools::per_element());
  // Stage 1 holds 4 layers to stage 0's 1: more parameters, more memory.
  BOOST_TEST((*predicted)[1] > (*predicted)[0]);
}

BOOST_AUTO_TEST_CASE(the_cpu_ranks_of_a_node_share_the_hosts_ram) {
  TempDir dir("fit_cpu");
  auto job = open(dir, kTwoCpuRanks, "pp = 2\ntp = 1\ndp = 1\nmicrobatch_size = 1", {"plan.workspace_gib=0.5"});
  auto resolved = resolve_job(*job, 2);
  BOOST_REQUIRE(resolved.ok());
  auto gib = predict_rank_memory_gib(job->plan_request(2), resolved->layout);
  BOOST_REQUIRE(gib.ok());
  // A CPU rank is held to its figure without plan.workspace_gib (a GPU figure).
  const double workspace = job->plan_request(2).plan.workspace_gib;
  for (double& rank_gib : *gib) rank_gib -= workspace;
  BOOST_TEST_REQUIRE(std::min((*gib)[0], (*gib)[1]) > 0.0);
  BOOST_TEST(std::accumulate(gib->begin(), gib->end(), 0.0) < 0.5);  // this tiny model: less than one workspace
  const double both = std::accumulate(gib->begin(), gib->end(), 0.0);
  const auto bytes = [](double gib_value) { return static_cast<std::int64_t>(gib_value * 1024 * 1024 * 1024); };
  BOOST_TEST(check_memory_fit(*job, *resolved, bytes(both * 1.01)).ok());
  // Each rank alone would fit in 0.99 of both; together they do not.
  BOOST_TEST(std::max((*gib)[0], (*gib)[1]) < both * 0.99);
  const Status short_host = check_memory_fit(*job, *resolved, bytes(both * 0.99));
  BOOST_REQUIRE(!short_host.ok());
  BOOST_TEST(short_host.error().exit_code() == 2);
  const std::string& message = short_host.error().message();
  BOOST_TEST(message.find("the layout of [parallel] (pp 2 · tp 1 · dp 1, microbatch_size 1, 6 microbatches): node "
                          "localhost runs 2 CPU ranks needing") != std::string::npos, message);
  BOOST_TEST(message.find("(MemTotal in /proc/meminfo)") != std::string::npos, message);
  BOOST_TEST(check_memory_fit(*job, *resolved, 0).ok());  // RAM unknown: not checked
  // Under a launcher a rank judges only its own node's ranks: another node's RAM is its own.
  job->own_node = 0;
  BOOST_TEST(!check_memory_fit(*job, *resolved, bytes(both * 0.99)).ok());
}

BOOST_AUTO_TEST_CASE(a_rank_under_a_launcher_judges_only_its_own_nodes_ranks) {
  TempDir dir("fit_nodes");
  const std::string two_nodes = R"([cluster]
[[cluster.node]]
name = "node-a"
cpus = { ranks = 1, threads_per_rank = 1 }
[[cluster.node]]
name = "node-b"
cpus = { ranks = 1, threads_per_rank = 1 }
)";
  auto job = open(dir, two_nodes, "pp = 2\ntp = 1\ndp = 1\nmicrobatch_size = 1\nstage_layers = [1, 4]",
                  {"plan.workspace_gib=0.5"});
  auto resolved = resolve_job(*job, 2);
  BOOST_REQUIRE(resolved.ok());
  auto gib = predict_rank_memory_gib(job->plan_request(2), resolved->layout);
  BOOST_REQUIRE(gib.ok());
  const double workspace = job->plan_request(2).plan.workspace_gib;
  const double stage0 = (*gib)[0] - workspace, stage1 = (*gib)[1] - workspace;
  BOOST_TEST_REQUIRE(stage1 > stage0);  // the last stage also holds the head
  const auto bytes = [](double gib_value) { return static_cast<std::int64_t>(gib_value * 1024 * 1024 * 1024); };
  const std::int64_t between = bytes((stage0 + stage1) / 2);  // stage 0 fits, stage 1 does not
  job->own_node = 0;
  BOOST_TEST(check_memory_fit(*job, *resolved, between).ok());
  job->own_node = 1;
  const Status short_b = check_memory_fit(*job, *resolved, between);
  BOOST_REQUIRE(!short_b.ok());
  BOOST_TEST(short_b.error().message().find("node node-b runs 1 CPU rank needing") != std::string::npos,
             short_b.error().message());
  // Without a launcher neither node is this host: their RAM is checked where they run.
  job->own_node = -1;
  BOOST_TEST(check_memory_fit(*job, *resolved, between).ok());
  // A rehearsal plays every rank on this host: one bucket holding both.
  job->rehearsal = true;
  const Status rehearsal = check_memory_fit(*job, *resolved, bytes(stage1 * 1.01));
  BOOST_REQUIRE(!rehearsal.ok());
  BOOST_TEST(rehearsal.error().message().find("this host (every rank of a --rehearse) runs 2 CPU ranks") !=
                 std::string::npos, rehearsal.error().message());
}

BOOST_AUTO_TEST_CASE(a_gpu_rank_is_held_against_its_cards_memory_by_resolve_job) {
  TempDir dir("fit_gpu");
  const std::string card = R"([cluster]
[[cluster.device_model]]
name = "small-card"
memory_gib = 0.002
peak_tflops = { fp32 = 10, bf16 = 20 }
memory_bandwidth_gbps = 1000
tdp_w = 100
[[cluster.node]]
name = "localhost"
gpus = { model = "small-card", count = 1 }
)";
  // bf16: what the CUDA layers run (this is never placed: resolve refuses first).
  auto job = open(dir, card, "pp = 1\ntp = 1\ndp = 1\nmicrobatch_size = 2", {"train.precision=\"bf16\""});
  auto resolved = resolve_job(*job, 1);
  BOOST_REQUIRE(!resolved.ok());
  BOOST_TEST(resolved.error().exit_code() == 2);
  const std::string& message = resolved.error().message();
  BOOST_TEST(message.find("stage 0 needs") != std::string::npos, message);
  BOOST_TEST(message.find("rank 0 runs on small-card (0.002 GiB)") != std::string::npos, message);
  BOOST_TEST(message.find("`llmrt plan") != std::string::npos, message);
}
