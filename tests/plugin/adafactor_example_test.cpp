// examples/plugins/adafactor as a third party builds it (the SDK installed into a temporary
// prefix, the example configured out of tree with find_package(llmrt), loaded with dlopen):
// three steps over a parameter table (a factored matrix, a batch of matrices at an lr scale, a
// 1-D and a (1, 8) tensor unfactored, a gap no entry covers) against a double-precision
// reimplementation of torch.optim.Adafactor's formulas here; a part of a tensor refused; and
// the default config (configs/local-cpu.toml: pp 2 under mpirun, d_model 256) trained with it
// on a learnable phrase, its loss falling below ln(23), what knowing only which 23 tokens
// occur gives. `check` refuses parallel.zero = 1 for it (it needs whole tensors).
#define BOOST_TEST_MODULE plugin_adafactor_example
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "plugin/host_tensors.h"
#include "plugin/plugin_calls.h"
#include "plugin/plugin_loader.h"
#include "support/process.h"
#include "support/tiny_gpt.h"

namespace fs = std::filesystem;
using namespace llmrt;
using llmrt::test::run_process;
using llmrt::test::TempDir;

namespace {

void run_ok(const std::vector<std::string>& argv) {
  const auto result = run_process(argv, {}, "", 300);
  BOOST_REQUIRE_MESSAGE(result.exit_code == 0, argv[1] << " failed (" << result.exit_code << "):\n" << result.out << result.err);
}

// The SDK installed once, examples/plugins/NAME built against it: the plugin file.
std::string example_plugin(const std::string& name) {
  static TempDir work("adafactor_example");
  static bool installed = false;
  const std::string prefix = work.path() + "/prefix", build = work.path() + "/build-" + name;
  const std::string plugin = build + "/" + name + ".so";
  if (fs::exists(plugin)) return plugin;
  // "Unspecified": the llmrt executable, which the examples' llmrt_add_plugin_test finds beside the SDK.
  for (const char* component : {"sdk", "Unspecified"}) {
    if (!installed) run_ok({CMAKE_COMMAND_PATH, "--install", LLMRT_BINARY_DIR, "--prefix", prefix, "--component", component});
  }
  installed = true;
  run_ok({CMAKE_COMMAND_PATH, "-S", llmrt::test::source_path("examples/plugins/" + name), "-B", build, "-G", "Ninja",
          "-DCMAKE_PREFIX_PATH=" + prefix, "-DCMAKE_BUILD_TYPE=Release"});
  run_ok({CMAKE_COMMAND_PATH, "--build", build});
  BOOST_REQUIRE_MESSAGE(fs::exists(plugin), plugin << " was not built");
  return plugin;
}

std::string adafactor_plugin() { return example_plugin("adafactor"); }

// torch.optim.Adafactor's defaults, as the example declares them.
constexpr double kBeta2Decay = -0.8, kEps1 = 1.1920929e-07, kEps2 = 1e-3, kD = 1.0;

// One tensor of the reference, in double: parameters and the second-moment statistics.
struct RefTensor {
  std::vector<std::int64_t> shape;
  double lr_scale = 1, weight_decay = 0;
  std::vector<double> p, row, col, v;  // row (B, R), col (B, C) when factored, else v (n)
};

bool factored(const std::vector<std::int64_t>& s) { return s.size() >= 2 && s[s.size() - 2] >= 2 && s.back() >= 2; }

// torch.optim.Adafactor (2.5) _single_tensor_adafactor, one step, written from its formulas.
void reference_step(RefTensor& t, const std::vector<double>& g, double lr, double step) {
  const std::size_t n = t.p.size();
  lr *= t.lr_scale;
  const double w = std::pow(step, kBeta2Decay), rho = std::min(lr, 1 / std::sqrt(step));
  double norm = 0;
  for (double x : t.p) norm += x * x;
  const double alpha = std::max(kEps2, std::sqrt(norm) / std::sqrt(double(n))) * rho;
  for (double& x : t.p) x *= 1 - lr * t.weight_decay;
  std::vector<double> u(n);
  if (factored(t.shape)) {
    const std::size_t R = std::size_t(t.shape[t.shape.size() - 2]), C = std::size_t(t.shape.back()), B = n / (R * C);
    t.row.resize(B * R), t.col.resize(B * C);
    for (std::size_t b = 0; b < B; ++b) {
      auto G = [&](std::size_t r, std::size_t c) { return g[b * R * C + r * C + c]; };
      double row_mean = 0;
      for (std::size_t r = 0; r < R; ++r) {
        double s = 0;
        for (std::size_t c = 0; c < C; ++c) s += G(r, c) * G(r, c);
        t.row[b * R + r] += w * (s / double(C) - t.row[b * R + r]);
        row_mean += t.row[b * R + r] / double(R);
      }
      for (std::size_t c = 0; c < C; ++c) {
        double s = 0;
        for (std::size_t r = 0; r < R; ++r) s += G(r, c) * G(r, c);
        t.col[b * C + c] += w * (s / double(R) - t.col[b * C + c]);
      }
      for (std::size_t r = 0; r < R; ++r) {
        for (std::size_t c = 0; c < C; ++c) {
          const double var = t.row[b * R + r] * t.col[b * C + c] / std::max(row_mean, kEps1);
          u[b * R * C + r * C + c] = G(r, c) / std::sqrt(std::max(var, kEps1 * kEps1));
        }
      }
    }
  } else {
    t.v.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      t.v[i] += w * (g[i] * g[i] - t.v[i]);
      u[i] = g[i] / std::sqrt(std::max(t.v[i], kEps1 * kEps1));
    }
  }
  double unorm = 0;
  for (double x : u) unorm += x * x;
  const double denom = std::max(1.0, std::sqrt(unorm) / (std::sqrt(double(n)) * kD));
  for (std::size_t i = 0; i < n; ++i) t.p[i] -= alpha / denom * u[i];
}

double wave(std::size_t i, double phase) { return std::sin(0.37 * double(i) + phase) * (1 + 0.5 * std::cos(0.11 * double(i))); }

// `name` must outlive the entry.
llmrt_optimizer_param table_entry(const char* name, const std::vector<std::int64_t>& shape, std::int64_t offset,
                                  double lr_scale, double weight_decay) {
  llmrt_optimizer_param p{};
  p.struct_size = sizeof(p);
  p.name = name;
  p.rank = static_cast<std::int32_t>(shape.size());
  p.numel = 1;
  for (std::size_t d = 0; d < shape.size(); ++d) p.shape[d] = shape[d], p.numel *= shape[d];
  p.shard_dim = LLMRT_NO_SHARD;
  p.count = p.numel;
  p.buffer_offset = offset;
  p.lr_scale = lr_scale;
  p.weight_decay = weight_decay;
  p.group = -1;
  return p;
}

Result<ComponentInstance> create_adafactor(Registry& registry) {
  const Status loaded = load_plugin_file(registry, adafactor_plugin(), {});
  if (!loaded.ok()) return loaded.error();
  const Component* adafactor = registry.find("example.adafactor");
  if (adafactor == nullptr) return runtime_error("example.adafactor is not registered");
  if ((adafactor->optimizer().flags & LLMRT_OPTIMIZER_WHOLE_TENSORS) == 0) return runtime_error("no WHOLE_TENSORS flag");
  static std::vector<ResolvedConfig> configs;  // outlive the instance
  auto config = resolve_default_config(*adafactor);
  if (!config.ok()) return config.error();
  configs.push_back(std::move(*config));
  return create_optimizer(*adafactor, configs.back());
}

llmrt_call_ctx cpu_ctx() {
  llmrt_call_ctx ctx{};
  ctx.struct_size = sizeof(ctx);
  ctx.device = {LLMRT_DEVICE_CPU, 0};
  ctx.tp_size = 1;
  return ctx;
}

}  // namespace

BOOST_AUTO_TEST_CASE(three_steps_over_a_table_match_the_reference_formulas) {
  Registry registry;
  auto optimizer = create_adafactor(registry);
  BOOST_REQUIRE_MESSAGE(optimizer.ok(), (optimizer.ok() ? "" : optimizer.error().message()));
  const std::vector<std::string> names = {"a", "b", "c", "d"};
  std::vector<RefTensor> ref = {{{5, 7}, 1.0, 0.1}, {{3, 4, 6}, 0.5, 0.0}, {{9}, 1.0, 0.0}, {{1, 8}, 1.0, 0.2}};
  std::vector<llmrt_optimizer_param> table;
  std::vector<std::size_t> offsets;
  std::size_t n = 0;
  for (std::size_t t = 0; t < ref.size(); ++t) {
    std::size_t count = 1;
    for (auto extent : ref[t].shape) count *= std::size_t(extent);
    if (t == 3) n += 2;  // a gap (a canary's place): no entry covers it, nothing may touch it
    offsets.push_back(n);
    table.push_back(table_entry(names[t].c_str(), ref[t].shape, std::int64_t(n), ref[t].lr_scale, ref[t].weight_decay));
    for (std::size_t i = 0; i < count; ++i) ref[t].p.push_back(0.3 * wave(n + i, 1.0));
    n += count;
  }
  std::vector<float> params(n, 7.0f), grads(n, 5.0f), state(n, 0.0f);
  for (std::size_t t = 0; t < ref.size(); ++t) {
    for (std::size_t i = 0; i < ref[t].p.size(); ++i) params[offsets[t] + i] = float(ref[t].p[i]);
  }
  for (RefTensor& t : ref) {
    for (double& x : t.p) x = double(float(x));  // the reference starts from the fp32 values
  }
  const std::vector<float> before = params;
  const double lr = 0.8;  // min(lr, 1/sqrt(t)) takes lr at step 1 and 1/sqrt(t) after
  for (int step = 1; step <= 3; ++step) {
    for (std::size_t t = 0; t < ref.size(); ++t) {
      std::vector<double> g(ref[t].p.size());
      for (std::size_t i = 0; i < g.size(); ++i) {
        grads[offsets[t] + i] = float(0.01 * wave(offsets[t] + i, 0.7 * step) * (1 + double(t)));
        g[i] = grads[offsets[t] + i];
      }
      reference_step(ref[t], g, lr, step);
    }
    llmrt_tensor p = host_tensor(params.data(), LLMRT_DTYPE_F32, {std::int64_t(n)});
    llmrt_tensor g = host_tensor(grads.data(), LLMRT_DTYPE_F32, {std::int64_t(n)});
    llmrt_tensor v = host_tensor(state.data(), LLMRT_DTYPE_F32, {std::int64_t(n)});
    const Status stepped = optimizer_step(*optimizer, cpu_ctx(), p, g, {&v, 1}, lr, step, table);
    BOOST_REQUIRE_MESSAGE(stepped.ok(), (stepped.ok() ? "" : stepped.error().message()));
  }
  for (std::size_t t = 0; t < ref.size(); ++t) {
    double diff = 0, moved = 0;
    for (std::size_t i = 0; i < ref[t].p.size(); ++i) {
      const double ours = params[offsets[t] + i] - double(before[offsets[t] + i]);
      const double theirs = ref[t].p[i] - double(before[offsets[t] + i]);
      diff += (ours - theirs) * (ours - theirs), moved += theirs * theirs;
    }
    BOOST_TEST(std::sqrt(moved) > 1e-3, names[t] << ": the reference did not move it");
    // fp32 arithmetic against double: the moves agree to a few fp32 roundings of the parameters.
    BOOST_TEST(std::sqrt(diff / moved) < 2e-5, names[t] << ": relative error of the update " << std::sqrt(diff / moved));
  }
  BOOST_TEST(params[offsets[3] - 1] == 7.0f);  // the gap
  BOOST_TEST(params[offsets[3] - 2] == 7.0f);
}

BOOST_AUTO_TEST_CASE(a_part_of_a_tensor_is_refused) {
  Registry registry;
  auto optimizer = create_adafactor(registry);
  BOOST_REQUIRE(optimizer.ok());
  std::vector<float> params(6, 1.f), grads(6, 0.1f), state(6, 0.f);
  llmrt_optimizer_param part = table_entry("w", {4, 3}, 0, 1.0, 0.0);
  part.tensor_offset = 6, part.count = 6;  // the second half, as a ZeRO-1 piece would cut it
  llmrt_tensor p = host_tensor(params.data(), LLMRT_DTYPE_F32, {6}), g = host_tensor(grads.data(), LLMRT_DTYPE_F32, {6}),
               v = host_tensor(state.data(), LLMRT_DTYPE_F32, {6});
  const Status stepped = optimizer_step(*optimizer, cpu_ctx(), p, g, {&v, 1}, 0.01, 1, {&part, 1});
  BOOST_REQUIRE(!stepped.ok());
  BOOST_TEST(stepped.error().message().find("adafactor: got part of 'w': it needs whole tensors") != std::string::npos,
             stepped.error().message());
}

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// configs/local-cpu.toml with the optimizer swapped for Adafactor, a learnable shard, `steps`.
std::string default_config_with_adafactor(const TempDir& dir, int steps) {
  std::string config = read_text(llmrt::test::source_path("configs/local-cpu.toml"));
  const std::string plugin_dir = fs::path(adafactor_plugin()).parent_path().string();
  config = std::regex_replace(config, std::regex(R"(optimizer = \{[^\n]*\})"),
                              "optimizer = { component = \"example.adafactor\", lr = 1e-2 }");
  config = std::regex_replace(config, std::regex(R"(steps = 50)"), "steps = " + std::to_string(steps));
  config = std::regex_replace(config, std::regex(R"(vocab_size = 256 )"),
                              "plugin_paths = [\"" + plugin_dir + "\"]\nvocab_size = 256 ");
  config = std::regex_replace(config, std::regex(R"(train = ""[^\n]*)"),
                              "train = \"" + llmrt::test::write_phrase_shard(dir) + "\"");
  config = std::regex_replace(config, std::regex(R"(run_dir = "runs/tiny-gpt")"), "run_dir = \"" + dir.path() + "/run\"");
  BOOST_REQUIRE(config.find("example.adafactor") != std::string::npos);
  BOOST_REQUIRE(config.find("plugin_paths") != std::string::npos);
  BOOST_REQUIRE(config.find("phrase.bin") != std::string::npos);
  return dir.write("adafactor.toml", config + "tensorboard = false\n");
}

}  // namespace

BOOST_AUTO_TEST_CASE(it_trains_the_default_config) {
  TempDir dir("adafactor_train");
  constexpr int kSteps = 30;
  const std::string config = default_config_with_adafactor(dir, kSteps);
  const auto result = run_process({"mpirun", "--oversubscribe", "-np", "2", LLMRT_CLI_BINARY, "run", config},
                                  llmrt::test::mpirun_env(), "", 500);
  BOOST_TEST_INFO("stdout: " << result.out << "\nstderr: " << result.err);
  BOOST_REQUIRE(result.exit_code == 0);
  std::vector<double> losses;
  std::ifstream metrics(dir.path() + "/run/metrics.jsonl");
  for (std::string line; std::getline(metrics, line);) losses.push_back(nlohmann::json::parse(line)["loss"].get<double>());
  BOOST_REQUIRE_EQUAL(losses.size(), std::size_t(kSteps));
  // Step 1 is near ln(256) = 5.55 (uniform over the bytes); ln(23) = 3.14 is all a model that
  // knows only which 23 tokens the phrase holds can reach: below it, it uses the context.
  BOOST_TEST_MESSAGE("adafactor on the default config: loss " << losses.front() << " at step 1, " << losses.back()
                                                            << " at step " << kSteps);
  BOOST_TEST(losses.front() > 5.0);
  BOOST_TEST(losses.back() < std::log(23.0), "loss " << losses.front() << " -> " << losses.back());
}

BOOST_AUTO_TEST_CASE(check_refuses_zero1_for_an_optimizer_that_needs_whole_tensors) {
  TempDir dir("adafactor_zero");
  const std::string config = default_config_with_adafactor(dir, 3);
  const auto result = run_process({LLMRT_CLI_BINARY, "check", config, "--set", "parallel.zero=1"}, {}, "", 120);
  BOOST_TEST(result.exit_code == 2, result.out << result.err);
  BOOST_TEST(result.err.find("parallel.zero = 1 hands the optimizer pieces of tensors, but optimizer "
                             "'example.adafactor' (plugin ") != std::string::npos,
             result.err);
  BOOST_TEST(result.err.find("needs whole tensors (LLMRT_OPTIMIZER_WHOLE_TENSORS); expected parallel.zero = 0") !=
                 std::string::npos,
             result.err);
}

// Lion works over the flat buffers and does not declare LLMRT_OPTIMIZER_PARAM_GROUPS: groups
// would be ignored, so check refuses them.
BOOST_AUTO_TEST_CASE(check_refuses_param_groups_for_an_optimizer_that_ignores_them) {
  TempDir dir("lion_groups");
  std::string config = read_text(default_config_with_adafactor(dir, 3));
  const std::string lion_dir = fs::path(example_plugin("lion")).parent_path().string();
  config = std::regex_replace(config, std::regex(R"(plugin_paths = \[)"), "plugin_paths = [\"" + lion_dir + "\", ");
  config = std::regex_replace(config, std::regex(R"(component = "example.adafactor", lr = 1e-2)"),
                              "component = \"example.lion\", lr = 1e-4");
  const std::string path = dir.write("lion.toml", config + "[[train.param_group]]\nndim = 1\nlr_scale = 0.5\n");
  const auto result = run_process({LLMRT_CLI_BINARY, "check", path}, {}, "", 120);
  BOOST_TEST(result.exit_code == 2, result.out << result.err);
  BOOST_TEST(result.err.find("train.param_group[0]: optimizer 'example.lion' (plugin ") != std::string::npos, result.err);
  BOOST_TEST(result.err.find("does not apply param groups (its table lacks LLMRT_OPTIMIZER_PARAM_GROUPS): their "
                             "lr_scale and weight_decay would be ignored") != std::string::npos,
             result.err);
  // The same file without the group is a good config: the refusal is the group's.
  const auto plain = run_process({LLMRT_CLI_BINARY, "check", dir.write("plain.toml", config)}, {}, "", 120);
  BOOST_TEST(plain.exit_code == 0, plain.out << plain.err);
}
