// `llmrt run --trace FILE` under mpirun: one Chrome trace with every rank's measured actions of
// the chosen step — a process per rank, each compute pass of each microbatch once — and the
// planner's predicted timeline of the same layout beside it.
#define BOOST_TEST_MODULE exec_trace
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "support/process.h"

BOOST_AUTO_TEST_CASE(trace_holds_every_ranks_step) {
  llmrt::test::TempDir dir("trace");
  const std::string path = dir.path() + "/step.json";
  const std::vector<std::string> argv = {"mpirun", "--oversubscribe", "-np", "2", LLMRT_CLI_BINARY, "run",
                                         llmrt::test::source_path("configs/local-cpu.toml"), "--set", "train.steps=3",
                                         "--set", "metrics.run_dir=" + dir.path(), "--trace", path, "--trace-step", "2"};
  const auto result = llmrt::test::run_process(argv, llmrt::test::mpirun_env(), "", 120);
  BOOST_TEST_INFO(result.err);
  BOOST_REQUIRE(result.exit_code == 0);
  const auto trace = nlohmann::json::parse(std::ifstream(path));
  BOOST_TEST(trace["otherData"]["label"].get<std::string>() == "measured step 2");
  std::map<int, int> compute_per_rank, predicted_per_rank;
  std::map<int, std::string> names;
  for (const auto& event : trace["traceEvents"]) {
    if (event["ph"] == "M" && event["name"] == "process_name") names[event["pid"].get<int>()] = event["args"]["name"];
    if (event["ph"] != "X") continue;
    BOOST_TEST(event["ts"].get<double>() >= 0);
    BOOST_TEST(event["dur"].get<double>() >= 0);
    const std::string category = event["cat"];
    if (category == "p2p" || category == "wait") continue;
    const int pid = event["pid"].get<int>();
    ++(pid < 2 ? compute_per_rank : predicted_per_rank)[pid];
  }
  // local-cpu: pp = 2, global batch 8 of microbatch 2 = 4 microbatches; F, B and W each.
  BOOST_TEST(compute_per_rank.size() == 2u);
  for (const auto& [rank, count] : compute_per_rank) BOOST_TEST(count == 3 * 4, "rank " << rank);
  BOOST_TEST(names[0] == "rank 0");
  BOOST_TEST(names[1] == "rank 1");
  // The prediction: the same passes on each pipeline rank, as processes after the measured ones.
  BOOST_TEST(names[2] == "predicted pipeline rank 0");
  BOOST_TEST(names[3] == "predicted pipeline rank 1");
  BOOST_TEST(predicted_per_rank.size() == 2u);
  for (const auto& [rank, count] : predicted_per_rank) BOOST_TEST(count == 3 * 4, "predicted rank " << rank);
  BOOST_TEST(trace["otherData"]["predicted_makespan_s"].get<double>() > 0);
  BOOST_TEST(trace["otherData"]["predicted_label"].get<std::string>() == "predicted: pp2·tp1·dp1 v1 1f1b");
}
