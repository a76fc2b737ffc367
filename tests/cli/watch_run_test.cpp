// Watching a run through the real binary, with no reader program needed: log lines off a
// terminal, the progress bar on one (a pseudo-terminal, also under mpirun), a metrics port
// already taken (a warning; the run goes on), and a malformed endpoint address refused by `run`.
#define BOOST_TEST_MODULE cli_watch_run
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <regex>

#include "watch_support.h"

using namespace llmrt::test;

namespace {

bool has(const std::string& text, const std::string& piece) { return text.find(piece) != std::string::npos; }

const std::regex kLogLine(R"(step +\d+/\d+ \| loss [0-9.]+ \| lr)");

std::size_t count(const std::string& text, const std::string& piece) {
  std::size_t n = 0;
  for (std::size_t at = text.find(piece); at != std::string::npos; at = text.find(piece, at + 1)) ++n;
  return n;
}

std::size_t event_files(const std::string& dir) {
  std::size_t n = 0;
  if (!std::filesystem::exists(dir)) return 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    n += entry.path().filename().string().rfind("events.out.tfevents.", 0) == 0 ? 1 : 0;
  }
  return n;
}

// Every redraw of the bar in `output`: the text after each '\r' up to the next '\r' or '\n'.
std::vector<std::string> bar_redraws(const std::string& output) {
  std::vector<std::string> redraws;
  for (std::size_t at = output.find("\rstep "); at != std::string::npos; at = output.find("\rstep ", at + 1)) {
    const std::size_t end = output.find_first_of("\r\n", at + 1);
    redraws.push_back(output.substr(at + 1, end - at - 1));
  }
  return redraws;
}

// The bar ran, its lines fit the terminal, no log line was printed, and the summary starts a
// line of its own.
void expect_progress_bar(const PtyResult& result, std::int64_t steps, int columns) {
  BOOST_TEST_INFO("terminal received: " << result.output);
  BOOST_TEST(result.exit_code == 0);
  const std::vector<std::string> redraws = bar_redraws(result.output);
  BOOST_TEST(redraws.size() >= 2u);
  for (const std::string& redraw : redraws) BOOST_TEST(redraw.size() <= static_cast<std::size_t>(columns - 1));
  BOOST_REQUIRE(!redraws.empty());
  BOOST_TEST(redraws.front().rfind("step 1/" + std::to_string(steps) + " [", 0) == 0u);
  BOOST_TEST(std::regex_search(redraws.back(), std::regex(fmt::format(R"(^step {}/{} \[#+\] loss )", steps, steps))));
  for (const char* field : {" loss ", " lr ", " tok/s MFU ", "% ", " ms/step ETA "}) BOOST_TEST(has(redraws.back(), field));
  BOOST_TEST(!std::regex_search(result.output, kLogLine));
  const std::size_t summary = result.output.find("peak resident memory per rank");
  BOOST_REQUIRE(summary != std::string::npos);
  BOOST_TEST(result.output[summary - 1] == '\n');
}

}  // namespace

BOOST_AUTO_TEST_CASE(log_lines_when_stdout_is_not_a_terminal) {
  TempDir dir("watch_log_lines");
  const std::string run_dir = dir.path() + "/run";
  const ProcessResult result = run_llmrt({"run", dir.write("job.toml", small_job(run_dir, 30, ""))});
  BOOST_TEST_INFO("stderr: " << result.err << "\nstdout: " << result.out);
  BOOST_REQUIRE(result.exit_code == 0);
  BOOST_TEST(!has(result.out, "\r"));
  std::size_t log_lines = 0;
  for (auto it = std::sregex_iterator(result.out.begin(), result.out.end(), kLogLine); it != std::sregex_iterator(); ++it) {
    ++log_lines;
  }
  BOOST_TEST(log_lines == 4u);  // steps 1, 10, 20, 30
  BOOST_TEST(has(result.out, "| ETA "));
  BOOST_TEST(read_lines(run_dir + "/metrics.jsonl").size() == 30u);
  BOOST_TEST(event_files(run_dir + "/tb/rank0") == 1u);
}

BOOST_AUTO_TEST_CASE(tensorboard_false_writes_no_events) {
  TempDir dir("watch_no_tb");
  const std::string run_dir = dir.path() + "/run";
  const ProcessResult result =
      run_llmrt({"run", dir.write("job.toml", small_job(run_dir, 3, "")), "--set", "metrics.tensorboard=false"});
  BOOST_REQUIRE_MESSAGE(result.exit_code == 0, result.err);
  BOOST_TEST(read_lines(run_dir + "/metrics.jsonl").size() == 3u);
  BOOST_TEST(!std::filesystem::exists(run_dir + "/tb"));
}

BOOST_AUTO_TEST_CASE(progress_bar_on_a_terminal) {
  TempDir dir("watch_pty");
  const std::string run_dir = dir.path() + "/run";
  const std::int64_t steps = 300;
  const PtyResult result = run_in_pty({LLMRT_CLI_BINARY, "run", dir.write("job.toml", small_job(run_dir, steps, ""))}, 100);
  expect_progress_bar(result, steps, 100);
  BOOST_TEST(read_lines(run_dir + "/metrics.jsonl").size() == static_cast<std::size_t>(steps));
}

BOOST_AUTO_TEST_CASE(a_narrow_terminal_drops_the_bar_then_cuts_the_line) {
  TempDir dir("watch_pty_narrow");
  const PtyResult result =
      run_in_pty({LLMRT_CLI_BINARY, "run", dir.write("job.toml", small_job(dir.path() + "/run", 5, ""))}, 60);
  BOOST_TEST_INFO("terminal received: " << result.output);
  BOOST_TEST(result.exit_code == 0);
  const std::vector<std::string> redraws = bar_redraws(result.output);
  BOOST_REQUIRE(!redraws.empty());
  for (const std::string& redraw : redraws) {
    BOOST_TEST(redraw.size() <= 59u);
    BOOST_TEST(!has(redraw, "["));
    BOOST_TEST(redraw.rfind("step ", 0) == 0u);
  }
}

// Under mpirun a rank's stdout is always mpirun's pseudo-terminal: what counts is mpirun's own.
BOOST_AUTO_TEST_CASE(under_mpirun_the_bar_follows_mpiruns_own_stdout) {
  TempDir dir("watch_mpirun");
  const std::string config = dir.write("job.toml", small_job(dir.path() + "/run", 40, ""));
  const std::vector<std::string> argv = {"mpirun", "--oversubscribe", "-np", "1", LLMRT_CLI_BINARY, "run", config};
  const ProcessResult piped = run_process(argv, mpirun_env(), "", 120);
  BOOST_TEST_INFO("stderr: " << piped.err << "\nstdout: " << piped.out);
  BOOST_REQUIRE(piped.exit_code == 0);
  BOOST_TEST(!has(piped.out, "\r"));
  BOOST_TEST(std::regex_search(piped.out, kLogLine));
  expect_progress_bar(run_in_pty(argv, 100, mpirun_env()), 40, 100);
}

BOOST_AUTO_TEST_CASE(a_taken_port_is_a_warning_and_the_run_goes_on) {
  TempDir dir("watch_port_taken");
  HeldPort held;
  const std::string address = fmt::format("127.0.0.1:{}", held.port());
  const std::string run_dir = dir.path() + "/run";
  const std::string config = dir.write("job.toml", small_job(run_dir, 20, address));
  const ProcessResult result = run_llmrt({"run", config});
  BOOST_TEST_INFO("stderr: " << result.err << "\nstdout: " << result.out);
  BOOST_TEST(result.exit_code == 0);
  // Named with where it was written: line 26 of the file.
  BOOST_TEST(has(result.err, fmt::format("llmrt: warning: metrics.prometheus = \"{}\" ({}:26:", address, config)));
  BOOST_TEST(has(result.err, fmt::format("cannot listen on {}: Address already in use", address)));
  BOOST_TEST(has(result.err, "training goes on without the metrics endpoint"));
  BOOST_TEST(count(result.err, "\n") == 1u);
  BOOST_TEST(read_lines(run_dir + "/metrics.jsonl").size() == 20u);
  BOOST_TEST(has(result.out, "step 20/20 | loss"));
}

BOOST_AUTO_TEST_CASE(run_refuses_a_malformed_address_before_anything_starts) {
  TempDir dir("watch_bad_address");
  const std::string run_dir = dir.path() + "/run";
  const std::string config = dir.write("job.toml", small_job(run_dir, 3, ""));
  for (const std::string bad : {"abc", "127.0.0.1:70000", "127.0.0.1:http"}) {
    const ProcessResult result = run_llmrt({"run", config, "--set", "metrics.prometheus=" + bad});
    BOOST_TEST_INFO("stderr: " << result.err);
    BOOST_TEST(result.exit_code == 2);
    BOOST_TEST(has(result.err, "metrics.prometheus: "));
    BOOST_TEST(has(result.err, "\"" + bad + "\""));
    BOOST_TEST(result.out.empty());
    BOOST_TEST(!std::filesystem::exists(run_dir));
  }
}
