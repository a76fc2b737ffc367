// ABI v1 through the real binary: a plugin built against the frozen v1.0 headers trains with
// `llmrt run`; a layer that does not support the topology's devices is refused by `check` and
// by `plan`; a plugin that needs a newer host is refused with exit code 2, naming the file.
#define BOOST_TEST_MODULE plugin_abi
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include <llmrt/plugin.h>

#include "support/process.h"

namespace fs = std::filesystem;
using llmrt::test::ProcessResult;
using llmrt::test::TempDir;
using llmrt::test::run_llmrt;

namespace {

bool has(const std::string& text, const std::string& piece) { return text.find(piece) != std::string::npos; }

std::string fixture_dir(const std::string& variant) { return std::string(PLUGIN_FIXTURE_DIR) + "/" + variant; }

std::string fixture_file(const std::string& variant) {
  for (const auto& entry : fs::directory_iterator(fixture_dir(variant))) {
    if (entry.path().extension() == ".so") return entry.path().string();
  }
  BOOST_FAIL("fixture " << variant << " was not built");
  return "";
}

std::vector<double> logged_losses(const std::string& out) {
  std::vector<double> losses;
  const std::regex line(R"(step +\d+/\d+ \| loss ([0-9.]+))");
  for (auto it = std::sregex_iterator(out.begin(), out.end(), line); it != std::sregex_iterator(); ++it) {
    losses.push_back(std::stod((*it)[1]));
  }
  return losses;
}

// A tiny GPT with `layer` (a c.scale build) between the embedding and the block, its plugin
// folder on model.plugin_paths; `cluster` is the [[cluster.node]] body.
std::string config_with_layer(const TempDir& dir, const std::string& layer, const std::string& plugin_dir,
                              const std::string& cluster, const std::string& extra) {
  return dir.write("job.toml",
                   "[cluster]\n[[cluster.node]]\nname = \"n0\"\n" + cluster +
                       "\n[model]\nseq_len = 8\nvocab_size = 32\nplugin_paths = [\"" + plugin_dir +
                       "\"]\n[[model.layer]]\ncomponent = \"gpt.embedding\"\nd_model = 16\n"
                       "[[model.layer]]\ncomponent = \"" + layer + "\"\n"
                       "[[model.layer]]\ncomponent = \"gpt.block\"\nheads = 2\n"
                       "[[model.layer]]\ncomponent = \"gpt.head\"\ntied_embedding = true\n" + extra);
}

}  // namespace

// The frozen fixture (tests/plugin/fixtures/abi_v1_0) is what a third party built against
// v1.0. It must keep loading and training whatever later minors append to the headers.
BOOST_AUTO_TEST_CASE(plugin_built_against_frozen_v1_0_headers_trains) {
  TempDir dir("plugin_abi_frozen");
  const std::string config = config_with_layer(
      dir, "frozen.scale", fixture_dir("frozen_abi"), "cpus = { ranks = 1, threads_per_rank = 1 }",
      "[parallel]\npp = 1\ntp = 1\ndp = 1\nmicrobatch_size = 2\n"
      "[train]\nsteps = 4\nglobal_batch = 4\n"
      "optimizer = { component = \"adamw\", lr = 1e-2 }\n"
      "[data]\ntrain = \"\"\n[metrics]\nrun_dir = \"" + dir.path() + "/run\"\nlog_every = 1\n");
  const ProcessResult result = run_llmrt({"run", config});
  BOOST_TEST_INFO("stderr: " << result.err << "\nstdout: " << result.out);
  BOOST_REQUIRE(result.exit_code == 0);
  const std::vector<double> losses = logged_losses(result.out);
  BOOST_REQUIRE(losses.size() == 4u);
  for (double loss : losses) BOOST_TEST((std::isfinite(loss) && loss > 1.0));  // about ln(32) at the start

  const ProcessResult info = run_llmrt({"plugins", "info", "frozen.scale"},
                                       {"LLMRT_PLUGIN_PATH=" + fixture_dir("frozen_abi")});
  BOOST_TEST_INFO(info.err);
  BOOST_REQUIRE(info.exit_code == 0);
  BOOST_TEST(has(info.out, "abi:       1.0"));
  BOOST_TEST(has(info.out, "frozen_abi"));
}

// `plugins info` shows how much of its table a plugin brought: an older minor's is shorter.
BOOST_AUTO_TEST_CASE(plugins_info_shows_the_plugin_and_host_table_sizes) {
  const ProcessResult info = run_llmrt({"plugins", "info", "c.scale_short"},
                                       {"LLMRT_PLUGIN_PATH=" + fixture_dir("c_layer_short_vtable")});
  BOOST_TEST_INFO(info.err);
  BOOST_REQUIRE(info.exit_code == 0);
  BOOST_TEST(has(info.out, "vtable:    " + std::to_string(LLMRT_STRUCT_SIZE(llmrt_layer_vtable, backward_weight)) +
                               " bytes (this llmrt's: " + std::to_string(sizeof(llmrt_layer_vtable)) + ")"),
             info.out);
}

// c.scale declares no supports(): the CPU with f32 only. On a GPU topology `check` refuses it
// before anything runs, naming the layer, its plugin file, the device and the dtype.
BOOST_AUTO_TEST_CASE(check_refuses_a_cpu_only_layer_on_gpus) {
  TempDir dir("plugin_abi_check");
  const std::string plugin = fixture_file("c_layer_good");
  const std::string config =
      config_with_layer(dir, "c.scale", fixture_dir("c_layer_good"), "gpus = { model = \"A100-80GB-PCIE\", count = 2 }",
                        "[train]\nglobal_batch = 4\nprecision = \"bf16\"\n");
  const ProcessResult result = run_llmrt({"check", config});
  BOOST_TEST_INFO("stderr: " << result.err << "\nstdout: " << result.out);
  BOOST_TEST(result.exit_code == 2);
  BOOST_TEST(has(result.err, "c.scale[1] (component 'c.scale', plugin " + plugin + ")"));
  BOOST_TEST(has(result.err, "does not run on A100-80GB-PCIE (CUDA) with bf16 activations"));
  BOOST_TEST(has(result.err, "the CPU with f32 activations only"));
  BOOST_TEST(has(result.err, "job.toml:"));  // the [[model.layer]] entry's position

  // The same model on CPU ranks in fp32 passes the check.
  TempDir cpu_dir("plugin_abi_check_cpu");
  const std::string cpu_config =
      config_with_layer(cpu_dir, "c.scale", fixture_dir("c_layer_good"), "cpus = { ranks = 2 }",
                        "[parallel]\npp = 1\ntp = 1\ndp = 2\n[train]\nglobal_batch = 4\n");
  const ProcessResult cpu = run_llmrt({"check", cpu_config});
  BOOST_TEST_INFO("stderr: " << cpu.err);
  BOOST_TEST(cpu.exit_code == 0);
}

// The planner marks every layout that puts the layer on a GPU infeasible; here that is all of
// them, and `plan` says why no layout fits, naming the plugin.
BOOST_AUTO_TEST_CASE(plan_says_why_no_layout_fits_a_cpu_only_layer_on_gpus) {
  TempDir dir("plugin_abi_plan");
  const std::string plugin = fixture_file("c_layer_good");
  const std::string config =
      config_with_layer(dir, "c.scale", fixture_dir("c_layer_good"), "gpus = { model = \"RTX-3090\", count = 2 }",
                        "[train]\nglobal_batch = 4\nprecision = \"bf16\"\n");
  const ProcessResult result = run_llmrt({"plan", config});
  BOOST_TEST_INFO("stderr: " << result.err << "\nstdout: " << result.out);
  BOOST_TEST(result.exit_code == 2);
  BOOST_TEST(has(result.err, "candidate layouts fits 2 devices"));
  BOOST_TEST(has(result.err, "(component 'c.scale', plugin " + plugin + ") does not run on RTX-3090 (CUDA)"));
}

// A plugin of a newer minor that needs a newer host (min_host_minor above this host's minor).
BOOST_AUTO_TEST_CASE(plugin_needing_a_newer_host_is_refused_with_exit_code_2) {
  const std::string plugin = fixture_file("c_needs_newer_host");
  const ProcessResult result = run_llmrt({"plugins", "list"}, {"LLMRT_PLUGIN_PATH=" + plugin});
  BOOST_TEST_INFO("stderr: " << result.err);
  BOOST_TEST(result.exit_code == 2);
  BOOST_TEST(has(result.err, plugin));
  BOOST_TEST(has(result.err, "identity.min_host_minor: expected at most " + std::to_string(LLMRT_ABI_MINOR)));
  BOOST_TEST(has(result.err, "found " + std::to_string(LLMRT_ABI_MINOR + 2)));
}
