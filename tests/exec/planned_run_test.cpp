// `llmrt run` under mpirun with [parallel] left on "auto": the planner picks the layout, the
// run trains on it, and run_dir/plan.json records the choice with its predictions.
#define BOOST_TEST_MODULE exec_planned_run
#include <boost/test/unit_test.hpp>

#include <fstream>

#include <nlohmann/json.hpp>

#include "support/process.h"

BOOST_AUTO_TEST_CASE(auto_degrees_come_from_the_plan) {
  llmrt::test::TempDir dir("planned_run");
  const std::vector<std::string> argv = {
      "mpirun", "--oversubscribe", "-np", "2", LLMRT_CLI_BINARY, "run", llmrt::test::source_path("configs/local-cpu.toml"),
      "--set", "parallel.pp=auto", "--set", "parallel.tp=auto", "--set", "parallel.dp=auto", "--set", "train.steps=2",
      "--set", "metrics.run_dir=" + dir.path()};
  const auto result = llmrt::test::run_process(argv, llmrt::test::mpirun_env(), "", 180);
  BOOST_TEST_INFO(result.err);
  BOOST_REQUIRE(result.exit_code == 0);
  const auto plan = nlohmann::json::parse(std::ifstream(dir.path() + "/plan.json"));
  BOOST_TEST(plan["source"].get<std::string>() == "planner");
  const int pp = plan["pp"], tp = plan["tp"], dp = plan["dp"];
  BOOST_TEST(pp * tp * dp == 2);
  BOOST_TEST(plan["predicted"]["step_time_s"].get<double>() > 0);
  // The run trained the layout the plan chose.
  const std::string label = "pp " + std::to_string(pp) + " · tp " + std::to_string(tp) + " · dp " + std::to_string(dp);
  BOOST_TEST(result.out.find(label) != std::string::npos, result.out);
  BOOST_TEST(result.out.find("step 2/2") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(fixed_degrees_are_recorded_as_such) {
  llmrt::test::TempDir dir("fixed_run");
  const std::vector<std::string> argv = {"mpirun", "--oversubscribe", "-np", "2", LLMRT_CLI_BINARY, "run",
                                         llmrt::test::source_path("configs/local-cpu.toml"), "--set", "train.steps=1",
                                         "--set", "metrics.run_dir=" + dir.path()};
  const auto result = llmrt::test::run_process(argv, llmrt::test::mpirun_env(), "", 180);
  BOOST_REQUIRE(result.exit_code == 0);
  const auto plan = nlohmann::json::parse(std::ifstream(dir.path() + "/plan.json"));
  BOOST_TEST(plan["source"].get<std::string>() == "[parallel]");
  BOOST_TEST(plan["pp"].get<int>() == 2);
  BOOST_TEST(plan["stage_layers"].size() == 2u);
  // The resolved config: the --set value is in, and it reads back as a config.
  std::ifstream resolved_in(dir.path() + "/config.resolved.toml");
  const std::string resolved((std::istreambuf_iterator<char>(resolved_in)), std::istreambuf_iterator<char>());
  BOOST_TEST(resolved.find("steps = 1") != std::string::npos, resolved);
  const auto check = llmrt::test::run_llmrt({"check", dir.path() + "/config.resolved.toml"});
  BOOST_TEST(check.exit_code == 0, check.err);
}
