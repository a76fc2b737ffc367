// The SwiGLU example on the op table (examples/plugins/swiglu_mlp) against its old plain-loop
// version (fixtures/swiglu_loop): the same forward, input and weight gradients on odd shapes,
// and the same losses over a few training steps of a small model at tp = 1 and tp = 2 (real
// llmrt runs under mpirun). And against the built-in kernels: its forward is, bit for bit, the
// composition of the kernels/cpu functions the built-in GPT MLP calls (matmul_forward, the
// pointwise loops), so it is those kernels that run, not a re-implementation.
#define BOOST_TEST_MODULE swiglu_ops
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstring>
#include <fstream>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cpu/kernels_cpu.h"
#include "plugin/component_config.h"
#include "plugin/host_tensors.h"
#include "plugin/plugin_calls.h"
#include "plugin/plugin_loader.h"
#include "support/process.h"
#include "support/tiny_gpt.h"

using namespace llmrt;
using llmrt::test::TempDir;

namespace {

const std::string kOpsSo = SWIGLU_OPS_SO, kLoopSo = SWIGLU_LOOP_SO;
constexpr int kRows = 2 * 5, kC = 13, kH = 22;  // B = 2, T = 5: odd sizes, nothing a multiple of 4

std::vector<float> random_values(std::size_t n, unsigned seed, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> values(n);
  for (float& v : values) v = normal(rng);
  return values;
}

// Relative distance |a - b| / |b| over a whole tensor (b is never near zero here).
double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0, norm = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff += (double(a[i]) - b[i]) * (double(a[i]) - b[i]), norm += double(b[i]) * b[i];
  BOOST_REQUIRE(norm > 0);
  return std::sqrt(diff / norm);
}

// One layer loaded from its own plugin, run on the CPU with tp = 1.
struct Swiglu {
  Registry registry;
  std::optional<ComponentInstance> layer;
  std::vector<std::byte> saved;
  Swiglu(const std::string& so, const std::string& name) {
    const Status loaded = load_plugin_file(registry, so, {});
    BOOST_REQUIRE_MESSAGE(loaded.ok(), (loaded.ok() ? "" : loaded.error().message()));
    const Component* component = registry.find(name);
    BOOST_REQUIRE(component != nullptr);
    ComponentSpec spec;
    spec.params["d_model"] = Located<ParamValue>{std::int64_t{kC}, {}};
    spec.params["hidden"] = Located<ParamValue>{std::int64_t{kH}, {}};
    auto config = resolve_component_config(*component, spec);
    BOOST_REQUIRE(config.ok());
    auto created = create_layer(*component, *config, llmrt_layer_context{sizeof(llmrt_layer_context), 0, 1, LLMRT_DTYPE_F32, 0, 0});
    BOOST_REQUIRE_MESSAGE(created.ok(), (created.ok() ? "" : created.error().message()));
    layer.emplace(std::move(*created));
    saved.resize(*layer_saved_bytes(*layer, 2, 5));
  }
};

struct Pass {
  std::vector<float> y, dx, dw1, dw3, dw2;
};

// forward, backward_input, backward_weight of `s` on fixed inputs; weight gradients start at
// `seed_grad` so the += contract is checked too.
Pass run_layer(Swiglu& s) {
  std::vector<float> x = random_values(kRows * kC, 1, 1.0f), w1 = random_values(kH * kC, 2, 0.3f),
                     w3 = random_values(kH * kC, 3, 0.3f), w2 = random_values(kC * kH, 4, 0.3f),
                     dy = random_values(kRows * kC, 5, 1.0f);
  Pass p{std::vector<float>(kRows * kC), std::vector<float>(kRows * kC, 7.0f), random_values(kH * kC, 6, 0.1f),
         random_values(kH * kC, 7, 0.1f), random_values(kC * kH, 8, 0.1f)};
  llmrt_tensor in = host_tensor(x.data(), LLMRT_DTYPE_F32, {2, 5, kC}), out = host_tensor(p.y.data(), LLMRT_DTYPE_F32, {2, 5, kC});
  llmrt_tensor params[3] = {host_tensor(w1.data(), LLMRT_DTYPE_F32, {kH, kC}), host_tensor(w3.data(), LLMRT_DTYPE_F32, {kH, kC}),
                            host_tensor(w2.data(), LLMRT_DTYPE_F32, {kC, kH})};
  llmrt_tensor grads[3] = {host_tensor(p.dw1.data(), LLMRT_DTYPE_F32, {kH, kC}), host_tensor(p.dw3.data(), LLMRT_DTYPE_F32, {kH, kC}),
                           host_tensor(p.dw2.data(), LLMRT_DTYPE_F32, {kC, kH})};
  llmrt_tensor grad_out = host_tensor(dy.data(), LLMRT_DTYPE_F32, {2, 5, kC});
  llmrt_tensor grad_in = host_tensor(p.dx.data(), LLMRT_DTYPE_F32, {2, 5, kC});
  llmrt_call_ctx ctx{};
  ctx.struct_size = sizeof(ctx);
  ctx.device = {LLMRT_DEVICE_CPU, 0};
  ctx.tp_size = 1;
  BOOST_REQUIRE(layer_forward(*s.layer, ctx, {.in = {&in, 1}, .params = params, .out = {&out, 1}, .saved = s.saved}, "fwd").ok());
  const BackwardCall back{.grad_out = {&grad_out, 1}, .in = {&in, 1}, .params = params, .saved = s.saved,
                          .grad_in = {&grad_in, 1}, .grad_params = grads};
  BOOST_REQUIRE(layer_backward_input(*s.layer, ctx, back, "bwd_in").ok());
  BOOST_REQUIRE(layer_backward_weight(*s.layer, ctx, back, "bwd_w").ok());
  return p;
}

BOOST_AUTO_TEST_CASE(op_table_version_matches_the_loop_version) {
  Swiglu ops(kOpsSo, "example.swiglu_mlp"), loop(kLoopSo, "example.swiglu_mlp_loop");
  const Pass a = run_layer(ops), b = run_layer(loop);
  // fp32 sums of 13 and 22 terms in another order: a few ulps apart, far from a real bug (a
  // wrong sign or a missing term moves these by O(1)).
  BOOST_TEST(relative_error(a.y, b.y) < 1e-6);
  BOOST_TEST(relative_error(a.dx, b.dx) < 1e-6);
  BOOST_TEST(relative_error(a.dw1, b.dw1) < 1e-6);
  BOOST_TEST(relative_error(a.dw3, b.dw3) < 1e-6);
  BOOST_TEST(relative_error(a.dw2, b.dw2) < 1e-6);
  double norm = 0;  // and y is not all zeros

  for (float v : a.y) norm += double(v) * v;
  BOOST_TEST(norm > 1e-3);
}

// The op-table forward is the built-in kernels' composition, bit for bit: the GPT MLP's
// matmul_forward for the three projections, and the pointwise kernels for the gate.
BOOST_AUTO_TEST_CASE(forward_is_the_builtin_kernels_bit_for_bit) {
  Swiglu ops(kOpsSo, "example.swiglu_mlp");
  const Pass p = run_layer(ops);
  namespace cpu = kernels::cpu;
  std::vector<float> x = random_values(kRows * kC, 1, 1.0f), w1 = random_values(kH * kC, 2, 0.3f),
                     w3 = random_values(kH * kC, 3, 0.3f), w2 = random_values(kC * kH, 4, 0.3f);
  std::vector<float> a(kRows * kH), b(kRows * kH), h(kRows * kH), y(kRows * kC);
  cpu::matmul_forward(a.data(), x.data(), w1.data(), nullptr, kRows, kC, kH);
  cpu::matmul_forward(b.data(), x.data(), w3.data(), nullptr, kRows, kC, kH);
  cpu::silu_forward(h.data(), a.data(), h.size());
  cpu::mul_forward(h.data(), h.data(), b.data(), h.size());
  cpu::matmul_forward(y.data(), h.data(), w2.data(), nullptr, kRows, kH, kC);
  BOOST_TEST(std::memcmp(y.data(), p.y.data(), y.size() * sizeof(float)) == 0);
}

// A small model (embedding, the SwiGLU, the GPT head) trained 4 steps by the real binary. SGD,
// not AdamW: AdamW's first steps are about lr * sign(g), so a gradient entry near zero whose
// rounding differs between two summation orders moves by 2 lr; under SGD a difference in the
// gradients moves the weights in proportion, and the losses say what the layers compute.
std::vector<double> train(const TempDir& dir, const std::string& component, const std::string& plugin_dir, int tp) {
  const std::string name = component + "_tp" + std::to_string(tp);
  const std::string config = dir.write(name + ".toml", R"([cluster]
[[cluster.node]]
name = "localhost"
cpus = { ranks = )" + std::to_string(tp) + R"( }
[model]
seq_len = 16
vocab_size = 64
[[model.layer]]
component = "gpt.embedding"
d_model = 32
[[model.layer]]
component = ")" + component + R"("
d_model = 32
hidden = 86
[[model.layer]]
component = "gpt.head"
[parallel]
tp = )" + std::to_string(tp) + R"(
microbatch_size = 1
[train]
steps = 4
global_batch = 4
seed = 3
optimizer = { component = "sgd", lr = 0.5, momentum = 0.9 }
[metrics]
prometheus = ""
tensorboard = false
run_dir = ")" + dir.path() + "/" + name + R"("
[data]
train = ")" + llmrt::test::write_phrase_shard(dir) + "\"\n");
  std::vector<std::string> argv;
  if (tp > 1) argv = {"mpirun", "--oversubscribe", "-np", std::to_string(tp)};
  argv.insert(argv.end(), {LLMRT_CLI_BINARY, "run", config});
  std::vector<std::string> env = llmrt::test::mpirun_env();
  env.push_back("LLMRT_PLUGIN_PATH=" + plugin_dir);
  const auto result = llmrt::test::run_process(argv, env, "", 300);
  BOOST_TEST_INFO(name << "\nstdout: " << result.out << "\nstderr: " << result.err);
  BOOST_REQUIRE(result.exit_code == 0);
  std::vector<double> losses;
  std::ifstream file(dir.path() + "/" + name + "/metrics.jsonl");
  for (std::string line; std::getline(file, line);) losses.push_back(nlohmann::json::parse(line)["loss"].get<double>());
  BOOST_REQUIRE(losses.size() == 4u);
  return losses;
}

BOOST_AUTO_TEST_CASE(trains_like_the_loop_version_at_tp1_and_tp2) {
  TempDir dir("swiglu_ops_train");
  const std::string ops_dir = std::string(kOpsSo).substr(0, kOpsSo.rfind('/'));
  const std::string loop_dir = std::string(kLoopSo).substr(0, kLoopSo.rfind('/'));
  const std::vector<double> loop = train(dir, "example.swiglu_mlp_loop", loop_dir, 1);
  for (int tp : {1, 2}) {
    const std::vector<double> ops = train(dir, "example.swiglu_mlp", ops_dir, tp);
    for (std::size_t step = 0; step < loop.size(); ++step) {
      BOOST_TEST(std::abs(ops[step] - loop[step]) / loop[step] < 1e-5,
                 "tp " << tp << " step " << step + 1 << ": " << ops[step] << " vs " << loop[step]);
    }
  }
  BOOST_TEST(loop.back() < loop.front());  // it learns: the comparison is of a model that moves
}

}  // namespace
