// Bad distributed input stops every rank before step 0 with one message and exit code 2:
// a world size that is not the plan's, and plugin builds that differ between ranks.
#define BOOST_TEST_MODULE exec_run_badinput
#include <boost/test/unit_test.hpp>

#include "support/process.h"

using llmrt::test::ProcessResult;

namespace {

bool has(const std::string& text, const std::string& piece) { return text.find(piece) != std::string::npos; }

ProcessResult mpirun(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"mpirun", "--oversubscribe"};
  argv.insert(argv.end(), args.begin(), args.end());
  return llmrt::test::run_process(argv, llmrt::test::mpirun_env(), "", 120);
}

const std::string kConfig = llmrt::test::source_path("configs/local-cpu.toml");

}  // namespace

BOOST_AUTO_TEST_CASE(more_ranks_than_the_topology_has_devices) {
  const ProcessResult result = mpirun({"-np", "3", LLMRT_CLI_BINARY, kConfig});
  BOOST_TEST_INFO(result.err);
  BOOST_TEST(result.exit_code == 2);
  BOOST_TEST(has(result.err, "mpirun started 3 ranks but the topology has 2 devices"));
  BOOST_TEST(!has(result.out, "step 1"));
}

BOOST_AUTO_TEST_CASE(fixed_degrees_that_are_not_the_world) {
  const ProcessResult result = mpirun({"-np", "2", LLMRT_CLI_BINARY, kConfig, "--set", "parallel.pp=1"});
  BOOST_TEST_INFO(result.err);
  BOOST_TEST(result.exit_code == 2);
  BOOST_TEST(has(result.err, "pp × tp × dp = 1 × 1 × 1 = 1 ranks, but 2 were started"));
  BOOST_TEST(!has(result.out, "step 1"));
}

BOOST_AUTO_TEST_CASE(plugin_builds_that_differ_between_ranks) {
  // Rank 0 finds one build of component c.single_good, rank 1 another (a stale copy on a node).
  const std::string fixtures = PLUGIN_FIXTURE_DIR;
  const ProcessResult result = mpirun({"-np", "1", "-x", "LLMRT_PLUGIN_PATH=" + fixtures + "/c_good", LLMRT_CLI_BINARY,
                                       kConfig, ":", "-np", "1", "-x", "LLMRT_PLUGIN_PATH=" + fixtures + "/c_other_build",
                                       LLMRT_CLI_BINARY, kConfig});
  BOOST_TEST_INFO(result.err);
  BOOST_TEST(result.exit_code == 2);
  BOOST_TEST(has(result.err, "c.single_good"));
  BOOST_TEST(has(result.err, "rank 1"));
  BOOST_TEST(!has(result.out, "step 1"));
}
