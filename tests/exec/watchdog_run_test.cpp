// No silent hang, with the real executor: under mpirun, a rank that stalls makes every rank
// stop within timeout_s plus a few seconds with one table and exit code 3; a rank that exits
// ends the job too, naming it; no process is left behind either way.
#define BOOST_TEST_MODULE exec_watchdog
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "support/process.h"

using llmrt::test::ProcessResult;

namespace {

bool has(const std::string& text, const std::string& piece) { return text.find(piece) != std::string::npos; }

// Processes whose command line carries `tag` (mpirun and every rank get it through --set).
int processes_with(const std::string& tag) {
  int found = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::ifstream cmdline(entry.path() / "cmdline");
    std::string text((std::istreambuf_iterator<char>(cmdline)), {});
    if (has(text, tag)) ++found;
  }
  return found;
}

struct TimedRun {
  ProcessResult result;
  double seconds = 0;
};

TimedRun run_with_fault(const std::string& fault, const std::string& tag) {
  const std::vector<std::string> argv = {
      "mpirun", "--oversubscribe", "-np", "2", LLMRT_CLI_BINARY, "run", llmrt::test::source_path("configs/local-cpu.toml"),
      "--set", "train.steps=6", "--set", "train.timeout_s=2", "--set", "metrics.run_dir=/tmp/" + tag,
      "--inject-fault", fault};
  const auto start = std::chrono::steady_clock::now();
  TimedRun run{llmrt::test::run_process(argv, llmrt::test::mpirun_env(), "", 120), 0};
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return run;
}

void expect_nothing_left(const std::string& tag) {
  int left = processes_with(tag);
  for (int tries = 0; left > 0 && tries < 20; ++tries) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    left = processes_with(tag);
  }
  BOOST_TEST(left == 0, left << " processes of the run are still there");
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_stalled_rank_stops_every_rank_with_one_table_and_exit_3) {
  const std::string tag = "llmrt-watchdog-stall-" + std::to_string(getpid());
  const TimedRun run = run_with_fault("1:3:stall", tag);
  BOOST_TEST_INFO("stderr: " << run.result.err);
  BOOST_TEST(run.result.exit_code == 3);
  // Two steps take about a second here; the stall is caught 2 s after it starts.
  BOOST_TEST(run.seconds < 2 + 15);
  BOOST_TEST(has(run.result.err, "llmrt watchdog: rank 0 (pp 0 · tp 0 · dp 0) waited more than 2 s"));
  BOOST_TEST(has(run.result.err, "coordinates"));
  BOOST_TEST(has(run.result.err, "  0     pp 0 · tp 0 · dp 0"));
  BOOST_TEST(has(run.result.err, "  1     pp 1 · tp 0 · dp 0"));
  BOOST_TEST(has(run.result.err, "step 3 RECV_GRADIENT mb 0 chunk 0 from rank 1"));  // what rank 0 waits in
  BOOST_TEST(has(run.result.err, "look there first"));
  const auto tables = std::count(run.result.err.begin(), run.result.err.end(), '\n');
  BOOST_TEST(tables < 30);  // one table, not one per rank
  expect_nothing_left(tag);
}

BOOST_AUTO_TEST_CASE(a_rank_that_exits_ends_the_job_naming_it) {
  const std::string tag = "llmrt-watchdog-exit-" + std::to_string(getpid());
  const TimedRun run = run_with_fault("0:3:exit", tag);
  BOOST_TEST_INFO("stderr: " << run.result.err);
  // Open MPI's mpirun ends the job itself when a rank dies, with that rank's exit code.
  BOOST_TEST(run.result.exit_code != 0);
  BOOST_TEST(run.seconds < 2 + 15);
  BOOST_TEST(has(run.result.err, "waiting for rank 0 (pp 0 · tp 0 · dp 0)"));  // the survivor names it
  expect_nothing_left(tag);
}

BOOST_AUTO_TEST_CASE(a_malformed_fault_is_a_usage_error) {
  const ProcessResult result =
      llmrt::test::run_llmrt({"run", llmrt::test::source_path("configs/local-cpu.toml"), "--inject-fault", "one:2:stall"});
  BOOST_TEST(result.exit_code == 2);
  BOOST_TEST(has(result.err, "--inject-fault"));
  BOOST_TEST(has(result.err, "RANK:STEP:stall|exit"));
}
