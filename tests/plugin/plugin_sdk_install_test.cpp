// The SDK as a third party sees it: cmake --install into a temporary prefix, the examples in
// examples/plugins/ configured and built out of tree with find_package(llmrt), then loaded; their
// llmrt_add_plugin_test entries run under ctest with the installed llmrt.
#define BOOST_TEST_MODULE plugin_sdk_install
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "plugin/plugin_calls.h"
#include "plugin/plugin_loader.h"
#include "plugin/plugin_search.h"
#include "support/process.h"
#include "plugin/host_tensors.h"

namespace fs = std::filesystem;
using namespace llmrt;
using llmrt::test::run_process;

namespace {

void run_ok(const std::vector<std::string>& argv) {
  const auto result = run_process(argv, {}, "", 300);
  BOOST_REQUIRE_MESSAGE(result.exit_code == 0, argv[1] << " failed (" << result.exit_code << "):\n" << result.out << result.err);
}

// Configures and builds one example against the prefix; returns the plugin file it made.
std::string build_example(const std::string& name, const std::string& prefix, const std::string& work) {
  const std::string build = work + "/build-" + name;
  run_ok({CMAKE_COMMAND_PATH, "-S", llmrt::test::source_path("examples/plugins/" + name), "-B", build, "-G", "Ninja",
          "-DCMAKE_PREFIX_PATH=" + prefix, "-DCMAKE_BUILD_TYPE=Release"});
  run_ok({CMAKE_COMMAND_PATH, "--build", build});
  const std::string plugin = build + "/" + name + ".so";
  BOOST_REQUIRE_MESSAGE(fs::exists(plugin), plugin << " was not built");
  return plugin;
}

llmrt_tensor cpu_tensor(std::vector<float>& data, std::vector<int64_t> shape) {
  return host_tensor(data.data(), LLMRT_DTYPE_F32, shape);
}

std::vector<float> filled(std::size_t n, float scale, float shift) {
  std::vector<float> values(n);
  for (std::size_t i = 0; i < n; ++i) values[i] = scale * std::sin(0.7f * static_cast<float>(i) + shift);
  return values;
}

// The direct computation the plugin must match: y = W2 (silu(W1 x) * W3 x), row by row.
std::vector<float> swiglu_reference(const std::vector<float>& x, const std::vector<float>& w1,
                                    const std::vector<float>& w3, const std::vector<float>& w2, int rows, int c, int h) {
  std::vector<float> y(rows * c, 0.f);
  for (int n = 0; n < rows; ++n) {
    for (int j = 0; j < h; ++j) {
      double a = 0, b = 0;
      for (int k = 0; k < c; ++k) a += w1[j * c + k] * x[n * c + k], b += w3[j * c + k] * x[n * c + k];
      const double g = a / (1 + std::exp(-a)) * b;
      for (int i = 0; i < c; ++i) y[n * c + i] += static_cast<float>(w2[i * h + j] * g);
    }
  }
  return y;
}

}  // namespace

BOOST_AUTO_TEST_CASE(install_build_examples_and_load_them) {
  llmrt::test::TempDir work("plugin_sdk");
  const std::string prefix = work.path() + "/prefix";
  // "Unspecified": the llmrt executable, which llmrt_add_plugin_test finds beside the SDK.
  for (const char* component : {"sdk", "plugins", "Unspecified"}) {
    run_ok({CMAKE_COMMAND_PATH, "--install", LLMRT_BINARY_DIR, "--prefix", prefix, "--component", component});
  }
  BOOST_TEST(fs::exists(prefix + "/include/llmrt/plugin.h"));
  BOOST_TEST(fs::exists(prefix + "/include/llmrt/plugin.hpp"));
  BOOST_TEST(fs::exists(prefix + "/include/llmrt/action.h"));

  // The installed built-in schedules load from the installed plugin directory.
  PluginSearchOptions installed;
  installed.use_builtin = false;
  installed.environment_path = "";
  installed.config_paths = {prefix + "/lib/llmrt/plugins"};
  auto builtin = load_plugins(installed);
  BOOST_REQUIRE_MESSAGE(builtin.ok(), (builtin.ok() ? "" : builtin.error().message()));
  BOOST_TEST(builtin->find("1f1b") != nullptr);

  Registry registry;
  for (const char* name : {"swiglu_mlp", "lion", "gpt_block"}) {
    const Status loaded = load_plugin_file(registry, build_example(name, prefix, work.path()), {});
    BOOST_REQUIRE_MESSAGE(loaded.ok(), (loaded.ok() ? "" : loaded.error().message()));
  }
  // llmrt_add_plugin_test: `ctest` in each example runs `llmrt plugins test` with the installed
  // llmrt (swiglu_mlp at tp = 1 and, under mpirun, tp = 2; lion as an optimizer).
  for (const auto& [name, tests] : {std::pair<std::string, int>{"swiglu_mlp", 2}, {"lion", 1}}) {
    const auto result = run_process({CTEST_COMMAND_PATH, "--test-dir", work.path() + "/build-" + name,
                                     "--output-on-failure", "-V"}, llmrt::test::mpirun_env(), "", 300);
    BOOST_TEST_INFO(result.out << result.err);
    BOOST_TEST(result.exit_code == 0);
    BOOST_TEST(result.out.find(fmt::format("100% tests passed, 0 tests failed out of {}", tests)) != std::string::npos);
    BOOST_TEST(result.out.find(prefix + "/bin/llmrt") != std::string::npos);  // the installed one
    BOOST_TEST(result.out.find("verdict: PASS") != std::string::npos);
  }
  const auto tp2 = run_process({CTEST_COMMAND_PATH, "--test-dir", work.path() + "/build-swiglu_mlp", "-V", "-R", "tp2"},
                               llmrt::test::mpirun_env(), "", 300);
  BOOST_TEST(tp2.out.find("PASS tensor_parallel: tp = 2 on 2 ranks") != std::string::npos, tp2.out);

  const Component* swiglu = registry.find("example.swiglu_mlp");
  const Component* lion = registry.find("example.lion");
  BOOST_REQUIRE(swiglu != nullptr);
  BOOST_REQUIRE(lion != nullptr);
  BOOST_TEST(registry.find("example.gpt_block") != nullptr);  // the op-table block of bench/bench_op_table.cpp
  BOOST_TEST(swiglu->kind == LLMRT_KIND_LAYER);
  BOOST_TEST(lion->kind == LLMRT_KIND_OPTIMIZER);

  // SwiGLU forward on odd sizes: B=1, T=3, C=5, H=7, against the direct computation.
  const int rows = 3, c = 5, h = 7;
  ComponentSpec spec;
  spec.params["d_model"] = Located<ParamValue>{std::int64_t{c}, {}};
  spec.params["hidden"] = Located<ParamValue>{std::int64_t{h}, {}};
  auto config = resolve_component_config(*swiglu, spec);
  BOOST_REQUIRE(config.ok());
  auto layer = create_layer(*swiglu, *config, llmrt_layer_context{sizeof(llmrt_layer_context), 0, 1, LLMRT_DTYPE_F32, 0});
  BOOST_REQUIRE_MESSAGE(layer.ok(), (layer.ok() ? "" : layer.error().message()));
  auto params = layer_param_specs(*layer);
  BOOST_REQUIRE(params.ok());
  BOOST_REQUIRE(params->size() == 3u);
  BOOST_TEST(std::string((*params)[2].name) == "w2");
  BOOST_TEST((*params)[2].shard_dim == 1);

  std::vector<float> x = filled(rows * c, 1.f, 0.3f), w1 = filled(h * c, 0.5f, 1.f), w3 = filled(h * c, 0.4f, 2.f),
                     w2 = filled(c * h, 0.3f, 3.f), y(rows * c, 0.f);
  auto saved_bytes = layer_saved_bytes(*layer, 1, rows);
  BOOST_REQUIRE(saved_bytes.ok());
  std::vector<std::byte> saved(*saved_bytes);
  llmrt_tensor in = cpu_tensor(x, {1, rows, c}), out = cpu_tensor(y, {1, rows, c});
  llmrt_tensor p[3] = {cpu_tensor(w1, {h, c}), cpu_tensor(w3, {h, c}), cpu_tensor(w2, {c, h})};
  llmrt_call_ctx ctx{};
  ctx.struct_size = sizeof(ctx);
  ctx.device = {LLMRT_DEVICE_CPU, 0};
  ctx.tp_size = 1;
  BOOST_REQUIRE(layer_forward(*layer, ctx, {.in = {&in, 1}, .params = p, .out = {&out, 1}, .saved = saved},
                              "forward").ok());
  const std::vector<float> expected = swiglu_reference(x, w1, w3, w2, rows, c, h);
  float largest = 0;
  for (int i = 0; i < rows * c; ++i) {
    BOOST_TEST(y[i] == expected[i], boost::test_tools::tolerance(1e-5f));
    largest = std::max(largest, std::fabs(y[i]));
  }
  BOOST_TEST(largest > 1e-3f);  // a test on all-zero outputs proves nothing

  // Lion: one step from zero momentum moves every weight by lr against the gradient's sign.
  auto lion_config = resolve_default_config(*lion);
  BOOST_REQUIRE(lion_config.ok());
  auto optimizer = create_optimizer(*lion, *lion_config);
  BOOST_REQUIRE(optimizer.ok());
  std::vector<float> weights = {1.f, -2.f, 0.5f}, grads = {0.3f, -0.1f, 2.f}, momentum(3, 0.f);
  llmrt_tensor pw = cpu_tensor(weights, {3}), gw = cpu_tensor(grads, {3}), mw = cpu_tensor(momentum, {3});
  BOOST_REQUIRE(optimizer_step(*optimizer, ctx, pw, gw, {&mw, 1}, 0.01, 1).ok());
  BOOST_TEST(weights[0] == 0.99f, boost::test_tools::tolerance(1e-6f));
  BOOST_TEST(weights[1] == -1.99f, boost::test_tools::tolerance(1e-6f));
  BOOST_TEST(momentum[2] == 0.02f, boost::test_tools::tolerance(1e-6f));
}
