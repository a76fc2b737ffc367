// TensorBoard events read back by TensorBoard's own reader (EventAccumulator, from
// tools_python("tensorboard")): a run's scalars equal its metrics.jsonl, a second run in the same
// directory hides the first, and a resumed session's START marker hides the points it made stale.
// Skips (exit 77) where no Python can import tensorboard.
#define BOOST_TEST_MODULE cli_watch_tensorboard
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <map>
#include <thread>

#include <nlohmann/json.hpp>

#include "cli/run_report.h"
#include "job/job.h"
#include "watch_support.h"

using namespace llmrt::test;
using nlohmann::json;

namespace {

std::string g_python;  // set by main

using Points = std::vector<std::pair<std::int64_t, double>>;  // (step, value)

// Every scalar tag in `dir` as TensorBoard shows it: {tag: [(step, value), ...]}.
std::map<std::string, Points> read_events(const std::string& dir) {
  const char* script = R"(
import json, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
ea = EventAccumulator(sys.argv[1], size_guidance={'scalars': 0})
ea.Reload()
print(json.dumps({tag: [[e.step, e.value] for e in ea.Scalars(tag)] for tag in ea.Tags()['scalars']}))
)";
  const ProcessResult read = run_process({g_python, "-c", script, dir});
  BOOST_REQUIRE_MESSAGE(read.exit_code == 0, read.err);
  std::map<std::string, Points> tags;
  const json parsed = json::parse(read.out);
  for (const auto& [tag, points] : parsed.items()) {
    for (const auto& point : points) tags[tag].emplace_back(point[0].get<std::int64_t>(), point[1].get<double>());
  }
  return tags;
}

std::vector<json> read_metrics(const std::string& run_dir) {
  std::vector<json> steps;
  for (const std::string& line : read_lines(run_dir + "/metrics.jsonl")) steps.push_back(json::parse(line));
  return steps;
}

// float32 in the event file, double in metrics.jsonl.
bool same_as_float(double event, double metric) {
  return std::abs(event - static_cast<double>(static_cast<float>(metric))) <= 1e-7 * std::max(1.0, std::abs(metric));
}

void expect_equal(const Points& events, const std::vector<json>& metrics, const std::string& key) {
  BOOST_TEST_CONTEXT(key) {
    BOOST_REQUIRE_EQUAL(events.size(), metrics.size());
    for (std::size_t i = 0; i < events.size(); ++i) {
      BOOST_TEST(events[i].first == metrics[i]["step"].get<std::int64_t>());
      BOOST_TEST(same_as_float(events[i].second, metrics[i][key].get<double>()),
                 "step " << events[i].first << ": " << events[i].second << " vs " << metrics[i][key]);
    }
  }
}

ProcessResult run_small(const TempDir& dir, const std::string& run_dir, std::int64_t steps,
                        const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args = {"run", dir.write("job" + std::to_string(steps) + ".toml", small_job(run_dir, steps, ""))};
  args.insert(args.end(), extra.begin(), extra.end());
  ProcessResult result = run_llmrt(args);
  BOOST_REQUIRE_MESSAGE(result.exit_code == 0, result.err);
  return result;
}

// Event files are named by the second they were created in: start the next one in a later second.
void next_second() { std::this_thread::sleep_for(std::chrono::milliseconds(1100)); }

}  // namespace

BOOST_AUTO_TEST_CASE(a_runs_scalars_equal_its_metrics_jsonl) {
  TempDir dir("watch_tb_values");
  const std::string run_dir = dir.path() + "/run";
  run_small(dir, run_dir, 25);
  const auto tags = read_events(run_dir + "/tb/rank0");
  const std::vector<json> metrics = read_metrics(run_dir);
  BOOST_REQUIRE_EQUAL(metrics.size(), 25u);
  const std::map<std::string, std::string> columns = {
      {"train/loss", "loss"}, {"train/lr", "lr"}, {"train/grad_norm", "grad_norm"},
      {"train/tokens_per_second", "tokens_per_s"}, {"train/mfu", "mfu"}, {"train/step_seconds", "step_time_s"}};
  BOOST_TEST(tags.size() == columns.size());  // fp32: no loss scale
  for (const auto& [tag, key] : columns) {
    BOOST_REQUIRE_MESSAGE(tags.count(tag) == 1u, "no " << tag);
    expect_equal(tags.at(tag), metrics, key);
  }
}

BOOST_AUTO_TEST_CASE(fp16_adds_the_loss_scale) {
  TempDir dir("watch_tb_fp16");
  const std::string run_dir = dir.path() + "/run";
  run_small(dir, run_dir, 4, {"--set", "train.precision=fp16"});
  const auto tags = read_events(run_dir + "/tb/rank0");
  BOOST_REQUIRE(tags.count("train/loss_scale") == 1u);
  expect_equal(tags.at("train/loss_scale"), read_metrics(run_dir), "loss_scale");
}

BOOST_AUTO_TEST_CASE(a_second_run_in_the_same_directory_hides_the_first) {
  TempDir dir("watch_tb_rerun");
  const std::string run_dir = dir.path() + "/run";
  run_small(dir, run_dir, 12);
  next_second();
  run_small(dir, run_dir, 6, {"--set", "train.seed=9"});
  const auto tags = read_events(run_dir + "/tb/rank0");
  expect_equal(tags.at("train/loss"), read_metrics(run_dir), "loss");  // the second run's 6 steps only
}

// RunReporter::resumed_at(4): the resumed session's points replace steps 5.. of the first one.
BOOST_AUTO_TEST_CASE(a_resumed_session_hides_the_points_it_made_stale) {
  TempDir dir("watch_tb_resume");
  const std::string run_dir = dir.path() + "/run";
  const std::string config = dir.write("job.toml", small_job(run_dir, 8, ""));
  llmrt::World world;
  std::vector<double> first_losses;
  {
    auto job = llmrt::start_training(llmrt::JobRequest{config, {}, false, true}, world);
    BOOST_REQUIRE_MESSAGE(job.ok(), (job.ok() ? "" : job.error().message()));
    auto reporter = llmrt::RunReporter::create(job->open->spec, job->open->topology, job->trainer(), world);
    BOOST_REQUIRE(reporter.ok());
    for (int step = 1; step <= 8; ++step) {
      auto report = job->trainer().train_step();
      BOOST_REQUIRE(report.ok());
      BOOST_REQUIRE(reporter->step_done(*report).ok());
      first_losses.push_back(report->loss);
    }
  }
  next_second();
  std::vector<double> resumed_losses;
  {
    auto job = llmrt::start_training(llmrt::JobRequest{config, {"train.seed=77"}, false, true}, world);
    BOOST_REQUIRE(job.ok());
    auto reporter = llmrt::RunReporter::create(job->open->spec, job->open->topology, job->trainer(), world);
    BOOST_REQUIRE(reporter.ok());
    reporter->resumed_at(4);
    for (std::int64_t step = 5; step <= 6; ++step) {  // the session ends early, at step 6
      auto report = job->trainer().train_step();
      BOOST_REQUIRE(report.ok());
      report->step = step;
      BOOST_REQUIRE(reporter->step_done(*report).ok());
      resumed_losses.push_back(report->loss);
    }
    reporter->add_scalar("val/loss", 6, 3.5);
  }
  const auto tags = read_events(run_dir + "/tb/rank0");
  const Points& loss = tags.at("train/loss");
  BOOST_TEST_INFO("steps read: " << loss.size());
  BOOST_REQUIRE_EQUAL(loss.size(), 6u);  // 1-4 from the first session, 5-6 from the resumed one; 7-8 hidden
  for (std::size_t i = 0; i < 4; ++i) BOOST_TEST(same_as_float(loss[i].second, first_losses[i]));
  for (std::size_t i = 4; i < 6; ++i) {
    BOOST_TEST(loss[i].first == static_cast<std::int64_t>(i + 1));
    BOOST_TEST(same_as_float(loss[i].second, resumed_losses[i - 4]));
  }
  BOOST_REQUIRE(tags.count("val/loss") == 1u);
  BOOST_TEST(tags.at("val/loss") == Points({{6, 3.5}}));
}

int main(int argc, char* argv[]) {
  g_python = tools_python("tensorboard");
  if (g_python.empty()) {
    std::printf("SKIP: no Python here imports tensorboard (scripts/install-tools.sh puts it in .venv-tools)\n");
    return 77;
  }
  return boost::unit_test::unit_test_main(&init_unit_test, argc, argv);
}
