// The watchdog seen from outside a whole mpirun job: exit code, the one table, time to
// stop, and no process of the job left behind. Faults come from the ring helper.
#define BOOST_TEST_MODULE obs_watchdog_job
#include <boost/test/unit_test.hpp>

#include <dirent.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <regex>
#include <thread>

#include "support/process.h"

namespace {

using llmrt::test::ProcessResult;
constexpr double kTimeoutS = 2.0;
constexpr double kFewSecondsS = 4.0;  // allowed on top of timeout_s for the whole job to stop

struct JobRun {
  ProcessResult result;
  std::string tag;      // on every helper's command line, to find leftovers
  double wall_s = 0;    // mpirun start to exit
  double stop_s = -1;   // fault to mpirun exit (when the helper printed the fault time)
};

long long epoch_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

JobRun run_ring(const std::string& fault, const std::vector<std::string>& mpirun_options = {}) {
  static int runs = 0;
  JobRun run;
  run.tag = "obs-watchdog-" + std::to_string(getpid()) + "-" + std::to_string(++runs);
  std::vector<std::string> argv = {"mpirun", "--oversubscribe", "-np", "3"};
  argv.insert(argv.end(), mpirun_options.begin(), mpirun_options.end());
  for (const char* arg : {WATCHDOG_RING_HELPER, "2", "6"}) argv.emplace_back(arg);
  argv.push_back(fault);
  argv.push_back(run.tag);
  const auto began = std::chrono::steady_clock::now();
  run.result = llmrt::test::run_process(argv, llmrt::test::mpirun_env(), "", 60);
  run.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  const long long ended = epoch_ms();
  std::smatch match;
  if (std::regex_search(run.result.err, match, std::regex("fault at epoch_ms (\\d+)"))) {
    run.stop_s = static_cast<double>(ended - std::stoll(match[1])) / 1000.0;
  }
  BOOST_TEST_MESSAGE("fault " << fault << ": exit " << run.result.exit_code << ", wall " << run.wall_s
                              << " s, fault to exit " << run.stop_s << " s\nstderr:\n" << run.result.err);
  return run;
}

// Live (non-zombie) processes whose command line carries the tag.
std::vector<std::string> processes_with(const std::string& tag) {
  std::vector<std::string> found;
  DIR* proc = opendir("/proc");
  for (dirent* entry; proc != nullptr && (entry = readdir(proc)) != nullptr;) {
    const std::string pid = entry->d_name;
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream cmdline_file("/proc/" + pid + "/cmdline");
    std::string cmdline((std::istreambuf_iterator<char>(cmdline_file)), std::istreambuf_iterator<char>());
    if (cmdline.find(tag) != std::string::npos) found.push_back(pid);
  }
  if (proc != nullptr) closedir(proc);
  return found;
}

void expect_nothing_left(const JobRun& run) {
  // mpirun reaps its ranks before it exits; allow a moment for the kernel to tidy up.
  std::vector<std::string> left;
  for (int attempt = 0; attempt < 20; ++attempt) {
    left = processes_with(run.tag);
    if (left.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  BOOST_TEST(left.empty(), "processes left behind: " << left.size());
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// The table row of one rank: the line starting with "  <rank>  pp <rank> ·".
std::string row_of(const std::string& err, int rank) {
  std::smatch match;
  const std::regex row("\\n  " + std::to_string(rank) + " +pp " + std::to_string(rank) + " [^\\n]*");
  return std::regex_search(err, match, row) ? match.str() : "";
}

}  // namespace

BOOST_AUTO_TEST_CASE(healthy_ring_finishes_without_a_word_from_the_watchdog) {
  const JobRun run = run_ring("none");
  BOOST_TEST(run.result.exit_code == 0);
  BOOST_TEST(run.result.out.find("6 steps done, loss sum 3.0") != std::string::npos);
  BOOST_TEST(run.result.err.find("llmrt watchdog") == std::string::npos);
  expect_nothing_left(run);
}

BOOST_AUTO_TEST_CASE(a_stalled_rank_stops_the_job_with_one_table_and_exit_3) {
  const JobRun run = run_ring("1:2:stall");
  const std::string& err = run.result.err;
  BOOST_TEST(run.result.exit_code == 3);
  BOOST_TEST(run.stop_s > 0);
  BOOST_TEST(run.stop_s < kTimeoutS + kFewSecondsS);
  BOOST_TEST(count(err, "current action") == 1u);  // the table's header: exactly one table
  BOOST_TEST(count(err, "stopping all 3 ranks (exit code 3)") == 1u);
  const std::string zero = row_of(err, 0), one = row_of(err, 1), two = row_of(err, 2);
  BOOST_TEST_MESSAGE("rows:" << zero << one << two);
  BOOST_TEST(!zero.empty());
  BOOST_TEST(!one.empty());
  BOOST_TEST(!two.empty());
  // Rank 1 stalled between actions after finishing step 1; it still answered.
  BOOST_TEST(one.find("between actions") != std::string::npos);
  BOOST_TEST(one.find("FORWARD step 1") != std::string::npos);
  // Rank 2 waits for rank 1, rank 0 for rank 2 (still stuck in step 2).
  BOOST_TEST(two.find("rank 1 (pp 1 · tp 0 · dp 0)") != std::string::npos);
  BOOST_TEST(zero.find("rank 2 (pp 2 · tp 0 · dp 0)") != std::string::npos);
  BOOST_TEST(err.find("waited on but waiting for nobody: rank 1 (pp 1 · tp 0 · dp 0)") != std::string::npos);
  BOOST_TEST(err.find("killed by the launcher") == std::string::npos);  // the table alone speaks
  expect_nothing_left(run);
}

BOOST_AUTO_TEST_CASE(a_dead_rank_ends_the_job_quickly_and_is_named) {
  // Open MPI 4.1's mpirun kills the job itself as soon as a rank exits without
  // MPI_Finalize (exit code: the dead rank's, 1). The survivors' SIGTERM notes name
  // whom they were waiting for.
  const JobRun run = run_ring("1:2:exit");
  const std::string& err = run.result.err;
  BOOST_TEST(run.result.exit_code != 0);
  BOOST_TEST(run.result.exit_code != 124);  // not our run_process timeout: no hang
  BOOST_TEST(run.stop_s > 0);
  BOOST_TEST(run.stop_s < kTimeoutS + kFewSecondsS);
  BOOST_TEST(std::regex_search(err, std::regex("Process name: \\[\\[\\d+,\\d+\\],1\\]")));  // mpirun's words
  BOOST_TEST(err.find("waiting for rank 1 (pp 1 · tp 0 · dp 0)") != std::string::npos);  // ours
  expect_nothing_left(run);
}

BOOST_AUTO_TEST_CASE(a_dead_rank_under_a_launcher_that_does_not_kill_is_caught_by_the_watchdog) {
  // With orte_abort_on_non_zero_status=0 mpirun leaves the survivors running: without the
  // watchdog they would hang for ever. The watchdog stops them and names the dead rank.
  const JobRun run = run_ring("1:2:exit", {"--mca", "orte_abort_on_non_zero_status", "0"});
  const std::string& err = run.result.err;
  BOOST_TEST(run.result.exit_code == 3);
  BOOST_TEST(run.stop_s > 0);
  BOOST_TEST(run.stop_s < kTimeoutS + kFewSecondsS + 1.0);  // + the gather deadline rank 1 uses up
  BOOST_TEST(count(err, "current action") == 1u);
  BOOST_TEST(row_of(err, 1).find("no answer (exited or stalled outside llmrt)") != std::string::npos);
  BOOST_TEST(err.find("waited on but waiting for nobody: rank 1 (pp 1 · tp 0 · dp 0)") != std::string::npos);
  expect_nothing_left(run);
}

BOOST_AUTO_TEST_CASE(a_dead_rank_0_under_a_launcher_that_does_not_kill_is_caught_by_the_fallback) {
  // Nobody collects a table when rank 0 is gone: each waiting rank's monitor gives rank 0
  // gather_s + 5 s, then prints its own state and aborts with 3 itself.
  const JobRun run = run_ring("0:2:exit", {"--mca", "orte_abort_on_non_zero_status", "0"});
  const std::string& err = run.result.err;
  BOOST_TEST(run.result.exit_code == 3);
  BOOST_TEST(run.stop_s > 0);
  BOOST_TEST(run.stop_s < kTimeoutS + 1.0 + 5.0 + kFewSecondsS);  // timeout + gather + fallback slack
  BOOST_TEST(err.find("rank 0 did not stop the job in time") != std::string::npos);
  BOOST_TEST(err.find("rank 0 (pp 0 · tp 0 · dp 0)") != std::string::npos);  // whom it waited for
  expect_nothing_left(run);
}
