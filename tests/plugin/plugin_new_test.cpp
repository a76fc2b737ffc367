// `llmrt plugins new` as a newcomer meets it: llmrt and its SDK installed into a temporary
// prefix (cmake --install, as plugin_sdk_install_test does), the installed llmrt writes a
// project of each kind, cmake configures and builds it against that prefix, and the installed
// llmrt loads it with dlopen (plugins info/list), checks and trains its sample config. Each
// run is compared with something independent of the template: the layer's parameters with its
// formula and its tp = 2 losses with tp = 1, the optimizer without momentum with the built-in
// sgd, the lr schedule with its formula, the schedule with the built-in gpipe.
#define BOOST_TEST_MODULE plugin_new
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/process.h"

namespace fs = std::filesystem;
using llmrt::test::ProcessResult;
using llmrt::test::run_process;

namespace {

const std::vector<std::string> kKinds = {"layer", "optimizer", "lr", "schedule"};

ProcessResult run_ok(const std::vector<std::string>& argv, const std::vector<std::string>& env = {}) {
  ProcessResult result = run_process(argv, env, "", 300);
  BOOST_REQUIRE_MESSAGE(result.exit_code == 0, argv[0] << " " << (argv.size() > 1 ? argv[1] : "") << " failed ("
                                                        << result.exit_code << "):\n" << result.out << result.err);
  return result;
}

std::string read_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(file), {}};
}

// llmrt, its SDK, its built-in plugins and the templates under one prefix, made once.
struct Installation {
  llmrt::test::TempDir work{"plugin_new"};
  std::string prefix = work.path() + "/prefix";
  std::string llmrt = prefix + "/bin/llmrt";
  Installation() {
    for (const char* component : {"Unspecified", "sdk", "plugins"}) {
      run_ok({CMAKE_COMMAND_PATH, "--install", LLMRT_BINARY_DIR, "--prefix", prefix, "--component", component});
    }
  }
};

Installation& installation() {
  static Installation installed;
  return installed;
}

// One generated and built project per kind, named test.KIND_plugin (C identifier test_KIND_plugin).
struct Project {
  std::string name, id, dir, plugin, config;
};

Project make_project(const std::string& kind) {
  Installation& at = installation();
  Project project{"test." + kind + "_plugin", "test_" + kind + "_plugin", at.work.path() + "/" + kind, "", ""};
  const ProcessResult made = run_ok({at.llmrt, "plugins", "new", project.name, "--kind", kind, project.dir});
  BOOST_TEST(made.out.find("wrote " + project.dir) != std::string::npos, made.out);
  for (const std::string& file : std::vector<std::string>{"CMakeLists.txt", "README.md", project.id + ".cpp", project.id + ".toml"}) {
    const std::string text = read_file(project.dir + "/" + file);
    BOOST_TEST_REQUIRE(!text.empty(), file << " was not written");
    BOOST_TEST(!std::regex_search(text, std::regex("@[A-Z_]+@")), file << " keeps a placeholder");
    if (file != "README.md") BOOST_TEST(text.find(project.name) != std::string::npos, file << " lacks the name");
  }
  std::vector<std::string> configure = {CMAKE_COMMAND_PATH, "-S", project.dir, "-B", project.dir + "/build", "-G",
                                        "Ninja", "-DCMAKE_PREFIX_PATH=" + at.prefix, "-DCMAKE_BUILD_TYPE=Release",
                                        "-DMPIEXEC_PREFLAGS=--oversubscribe"};
  run_ok(configure);
  run_ok({CMAKE_COMMAND_PATH, "--build", project.dir + "/build"});
  project.plugin = project.dir + "/build/" + project.id + ".so";
  project.config = project.dir + "/" + project.id + ".toml";
  BOOST_REQUIRE_MESSAGE(fs::exists(project.plugin), project.plugin << " was not built");
  return project;
}

const Project& project(const std::string& kind) {
  static std::map<std::string, Project> made;
  if (made.count(kind) == 0) made.emplace(kind, make_project(kind));
  return made.at(kind);
}

struct Run {
  std::vector<double> losses, lrs;
  std::string params;  // rank 0's dumped parameters, raw bytes
};

// `run` of `config` on 2 ranks under mpirun, from the project's folder, with --set entries.
Run train(const Project& at, const std::string& name, const std::vector<std::string>& sets) {
  const std::string out = at.dir + "/runs/" + name;
  std::vector<std::string> argv = {"mpirun", "--oversubscribe", "-np", "2", installation().llmrt, "run", at.config,
                                   "--dump-params", out + "/params", "--set", "metrics.run_dir=" + out};
  for (const std::string& set : sets) argv.insert(argv.end(), {"--set", set});
  const ProcessResult result = run_process(argv, llmrt::test::mpirun_env(), at.dir, 300);
  BOOST_TEST_INFO(name << "\nstdout: " << result.out << "\nstderr: " << result.err);
  BOOST_REQUIRE(result.exit_code == 0);
  Run run;
  std::ifstream metrics(out + "/metrics.jsonl");
  for (std::string line; std::getline(metrics, line);) {
    const auto json = nlohmann::json::parse(line);
    if (!json.contains("loss")) continue;
    run.losses.push_back(json["loss"].get<double>());
    run.lrs.push_back(json["lr"].get<double>());
  }
  for (double loss : run.losses) BOOST_TEST(std::isfinite(loss));
  run.params = read_file(out + "/params/rank_0.bin");
  BOOST_TEST(!run.params.empty());
  return run;
}

// "  parameters: 3420160 (3.4 M)" in `check`'s summary.
long long checked_parameters(const std::string& config) {
  const ProcessResult checked = run_ok({installation().llmrt, "check", config});
  std::smatch match;
  BOOST_REQUIRE_MESSAGE(std::regex_search(checked.out, match, std::regex(R"(parameters: (\d+) )")), checked.out);
  return std::stoll(match[1]);
}

}  // namespace

BOOST_AUTO_TEST_CASE(each_kind_builds_and_loads) {
  const std::map<std::string, std::string> kind_names = {
      {"layer", "layer"}, {"optimizer", "optimizer"}, {"lr", "lr_schedule"}, {"schedule", "pipeline_schedule"}};
  std::string path;
  for (const std::string& kind : kKinds) {
    const Project& made = project(kind);
    const ProcessResult info = run_ok({installation().llmrt, "plugins", "info", made.name},
                                      {"LLMRT_PLUGIN_PATH=" + made.plugin});
    BOOST_TEST(info.out.find("kind:      " + kind_names.at(kind) + "\n") != std::string::npos, info.out);
    BOOST_TEST(info.out.find(made.plugin) != std::string::npos, info.out);
    path += (path.empty() ? "" : ":") + made.plugin;
  }
  // All four on one search path beside the installed built-ins: each listed once, nothing broken.
  const ProcessResult list = run_ok({installation().llmrt, "plugins", "list"}, {"LLMRT_PLUGIN_PATH=" + path});
  for (const std::string& kind : kKinds) {
    BOOST_TEST(std::regex_search(list.out, std::regex("\\ntest\\." + kind + "_plugin +" + kind_names.at(kind))),
               list.out);
  }
  BOOST_TEST(list.out.find("adamw") != std::string::npos, list.out);
}

BOOST_AUTO_TEST_CASE(layer_checks_and_trains_tp_aware) {
  const Project& layer = project("layer");
  // The default model plus g (C) and W (C, C), with C = 256 filled in from the embedding.
  const long long c = 256;
  BOOST_TEST(checked_parameters(layer.config) ==
             checked_parameters(llmrt::test::source_path("configs/local-cpu.toml")) + c * c + c);
  const Run pipelined = train(layer, "pp2", {"train.steps=2"});
  const Run sharded = train(layer, "tp2", {"train.steps=2", "parallel.pp=1", "parallel.tp=2"});
  BOOST_REQUIRE(pipelined.losses.size() == 2u);
  BOOST_REQUIRE(sharded.losses.size() == 2u);
  for (std::size_t step = 0; step < 2; ++step) {
    // The same model split two ways: fp32 sums in another order, nothing more.
    BOOST_TEST(sharded.losses[step] == pipelined.losses[step], boost::test_tools::tolerance(1e-4));
  }
  BOOST_TEST(pipelined.losses[0] > 4.0);  // about ln(256) = 5.5 from random init: a real loss
}

BOOST_AUTO_TEST_CASE(optimizer_without_momentum_is_plain_sgd) {
  const Project& optimizer = project("optimizer");
  const Run sample = train(optimizer, "sample", {"train.steps=2"});
  BOOST_TEST(sample.losses.size() == 2u);
  // momentum 0, no decay: p -= lr * g, as the built-in sgd does it, to the bit.
  const std::vector<std::string> plain = {"train.steps=2", "train.optimizer.momentum=0.0"};
  const Run mine = train(optimizer, "plain", plain);
  std::vector<std::string> builtin = plain;
  builtin.push_back("train.optimizer.component=sgd");
  const Run reference = train(optimizer, "sgd", builtin);
  BOOST_TEST(mine.losses == reference.losses);
  BOOST_TEST(mine.params == reference.params);
  BOOST_TEST(mine.params != sample.params);  // momentum changed something
}

BOOST_AUTO_TEST_CASE(lr_schedule_follows_its_formula) {
  const Project& lr = project("lr");
  const Run run = train(lr, "sample", {"train.steps=4", "train.lr_schedule.warmup_steps=2"});
  BOOST_REQUIRE(run.lrs.size() == 4u);
  const double base = 1e-3, warmup = 2;  // the sample's optimizer lr, and warmup_steps as set
  for (std::size_t i = 0; i < run.lrs.size(); ++i) {
    const double step = static_cast<double>(i + 1);
    const double expected = step <= warmup ? base * step / warmup : base * std::sqrt(warmup / step);
    BOOST_TEST(run.lrs[i] == expected, boost::test_tools::tolerance(1e-9));
  }
}

BOOST_AUTO_TEST_CASE(schedule_matches_builtin_gpipe) {
  const Project& schedule = project("schedule");
  const Run mine = train(schedule, "sample", {"train.steps=2"});
  const Run reference = train(schedule, "gpipe", {"train.steps=2", "parallel.schedule=gpipe"});
  BOOST_TEST(mine.losses.size() == 2u);
  BOOST_TEST(mine.losses == reference.losses);
  BOOST_TEST(mine.params == reference.params);
}

// Each generated CMakeLists.txt registers a ctest: `llmrt check` of the sample config for the
// schedules, `llmrt plugins test` (through llmrt_add_plugin_test) for the layer and the optimizer.
BOOST_AUTO_TEST_CASE(generated_ctest_passes) {
  for (const std::string kind : {"lr", "schedule"}) {
    const Project& made = project(kind);
    const ProcessResult passed = run_ok({"ctest", "--test-dir", made.dir + "/build", "--output-on-failure"});
    BOOST_TEST(passed.out.find("100% tests passed, 0 tests failed out of 1") != std::string::npos, passed.out);
  }
  for (const std::string kind : {"layer", "optimizer"}) {
    const Project& made = project(kind);
    run_ok({"ctest", "--test-dir", made.dir + "/build", "--output-on-failure"}, llmrt::test::mpirun_env());
  }
}
