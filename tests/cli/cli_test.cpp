// The command line end to end: built-in plugins listed, hostile schedules refused by check
// with the verifier's findings, usage errors with exit code 2.
#define BOOST_TEST_MODULE cli_commands
#include <boost/test/unit_test.hpp>

#include "support/process.h"

using llmrt::test::ProcessResult;
using llmrt::test::TempDir;
using llmrt::test::run_llmrt;

namespace {

bool has(const std::string& text, const std::string& piece) { return text.find(piece) != std::string::npos; }

// A one-node, 2-rank CPU config with the given [parallel] schedule and pp, and the broken
// schedules' folder on model.plugin_paths.
std::string config_with_schedule(const TempDir& dir, const std::string& schedule, int pp) {
  return dir.write("job.toml", "[cluster]\n[[cluster.node]]\nname = \"localhost\"\ncpus = { ranks = " +
                                   std::to_string(pp) + " }\n[model]\nseq_len = 16\nvocab_size = 32\nplugin_paths = [\"" +
                                   std::string(BROKEN_SCHEDULE_DIR) +
                                   "\"]\n[[model.layer]]\ncomponent = \"gpt.embedding\"\nd_model = 8\n"
                                   "[[model.layer]]\ncomponent = \"gpt.block\"\nd_model = 8\nheads = 2\n"
                                   "[[model.layer]]\ncomponent = \"gpt.head\"\n[parallel]\npp = " +
                                   std::to_string(pp) + "\ntp = 1\ndp = 1\nschedule = \"" + schedule +
                                   "\"\n[train]\nglobal_batch = 3\n");
}

}  // namespace

BOOST_AUTO_TEST_CASE(plugins_list_shows_the_builtin_schedules) {
  const ProcessResult result = run_llmrt({"plugins", "list"});
  BOOST_TEST_INFO(result.err);
  BOOST_TEST(result.exit_code == 0);
  for (const char* name : {"gpipe", "1f1b", "interleaved-1f1b", "zb-h1"}) {
    BOOST_TEST(has(result.out, std::string(name) + " "), "missing " << name);
  }
  BOOST_TEST(has(result.out, "pipeline_schedule"));
}

BOOST_AUTO_TEST_CASE(plugins_info_names_kind_path_and_build) {
  const ProcessResult result = run_llmrt({"plugins", "info", "interleaved-1f1b"});
  BOOST_TEST(result.exit_code == 0);
  BOOST_TEST(has(result.out, "pipeline_schedule"));
  BOOST_TEST(has(result.out, "llmrt_schedule_interleaved_1f1b.so"));
  BOOST_TEST(has(result.out, "build id:"));
  const ProcessResult missing = run_llmrt({"plugins", "info", "1f1c"});
  BOOST_TEST(missing.exit_code == 2);
  BOOST_TEST(has(missing.err, "1f1b"));  // did you mean
}

BOOST_AUTO_TEST_CASE(check_verifies_every_builtin_schedule) {
  TempDir dir("cli_schedules");
  for (const char* schedule : {"gpipe", "1f1b", "zb-h1", "interleaved-1f1b"}) {
    const ProcessResult result = run_llmrt({"check", config_with_schedule(dir, schedule, 3)});
    BOOST_TEST_INFO(schedule << ": " << result.err);
    BOOST_TEST(result.exit_code == 0);
    BOOST_TEST(has(result.out, std::string("schedule ") + schedule + ": verified for 3 stages × 3 microbatches"));
  }
}

BOOST_AUTO_TEST_CASE(check_refuses_a_deadlocking_schedule_plugin) {
  TempDir dir("cli_deadlock");
  const ProcessResult result = run_llmrt({"check", config_with_schedule(dir, "test.deadlock", 2)});
  BOOST_TEST_INFO(result.err);
  BOOST_TEST(result.exit_code == 2);
  BOOST_TEST(has(result.err, "schedule 'test.deadlock'"));
  BOOST_TEST(has(result.err, "deadlock"));
  BOOST_TEST(has(result.err, "rank 0, action 0 (RECV_GRADIENT mb 0 chunk 0 from rank 1)"));
  BOOST_TEST(has(result.err, "rank 1, action"));
  BOOST_TEST(result.out.empty());
}

BOOST_AUTO_TEST_CASE(check_refuses_an_incomplete_schedule_plugin) {
  TempDir dir("cli_incomplete");
  const ProcessResult result = run_llmrt({"check", config_with_schedule(dir, "test.incomplete", 1)});
  BOOST_TEST_INFO(result.err);
  BOOST_TEST(result.exit_code == 2);
  BOOST_TEST(has(result.err, "schedule 'test.incomplete'"));
  BOOST_TEST(has(result.err, "mb 2"));  // the microbatch whose backward is missing
}

BOOST_AUTO_TEST_CASE(unknown_schedule_suggests_the_close_one) {
  TempDir dir("cli_unknown_schedule");
  const ProcessResult result = run_llmrt({"check", config_with_schedule(dir, "1f1", 2)});
  BOOST_TEST(result.exit_code == 2);
  BOOST_TEST(has(result.err, "[parallel].schedule"));
  BOOST_TEST(has(result.err, "1f1b"));
}

BOOST_AUTO_TEST_CASE(usage_errors_exit_2_and_help_exits_0) {
  BOOST_TEST(run_llmrt({"--help"}).exit_code == 0);
  const ProcessResult version = run_llmrt({"--version"});
  BOOST_TEST(version.exit_code == 0);
  BOOST_TEST(has(version.out, "llmrt 0."));
  BOOST_TEST(run_llmrt({"--no-such-flag"}).exit_code == 2);
  BOOST_TEST(run_llmrt({"check"}).exit_code == 2);  // no config
  BOOST_TEST(run_llmrt({}).exit_code == 2);
}
