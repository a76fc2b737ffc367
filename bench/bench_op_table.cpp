// A third party's layer on the op table against the built-in layer it mirrors: example.gpt_block
// (examples/plugins/gpt_block, built with llmrt_add_plugin against the SDK headers only) and the
// built-in gpt.block, one forward + backward_input + backward_weight of a microbatch each, fp32 on
// the CPU, tp = 1. The two alternate round by round so a change of machine load hits both; the
// figure is the median over rounds of the per-round time ratio. Also checks that the two give the
// same bits (same kernels, same order), so the comparison is of equal work.
//   bench_op_table EXAMPLE_SO [B T C HEADS ROUNDS ITERS]   (threads: OMP_NUM_THREADS)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "plugin/component_config.h"
#include "plugin/host_tensors.h"
#include "plugin/plugin_calls.h"
#include "plugin/plugin_loader.h"
#include "plugin/plugin_search.h"

namespace {
using namespace llmrt;

struct Shape {
  int64_t b, t, c, heads;
};

// One block instance with its tensors, filled with the same random values for either layer.
struct Bench {
  std::optional<ComponentInstance> layer;
  std::vector<std::vector<float>> params, grads;
  std::vector<float> x, y, dy, dx;
  std::vector<std::byte> saved;
  std::vector<llmrt_tensor> p_tensors, g_tensors;
  llmrt_tensor in{}, out{}, grad_out{}, grad_in{};

  Bench(const Component& component, const Shape& s) {
    ComponentSpec spec;
    spec.params["d_model"] = Located<ParamValue>{s.c, {}};
    spec.params["heads"] = Located<ParamValue>{s.heads, {}};
    auto config = resolve_component_config(component, spec);
    if (!config.ok()) fail(config.error().message());
    auto created = create_layer(component, *config, llmrt_layer_context{sizeof(llmrt_layer_context), 0, 1, LLMRT_DTYPE_F32, 0, 0});
    if (!created.ok()) fail(created.error().message());
    layer.emplace(std::move(*created));
    auto specs = layer_param_specs(*layer);
    if (!specs.ok()) fail(specs.error().message());
    std::mt19937 rng(1);
    std::normal_distribution<float> normal(0.0f, 0.05f);
    for (const llmrt_param_spec& spec_i : *specs) {
      std::vector<int64_t> shape(spec_i.shape, spec_i.shape + spec_i.rank);
      int64_t n = 1;
      for (int64_t d : shape) n *= d;
      params.emplace_back(size_t(n));
      for (float& v : params.back()) v = normal(rng);
      grads.emplace_back(size_t(n), 0.0f);
      p_tensors.push_back(host_tensor(params.back().data(), LLMRT_DTYPE_F32, shape));
      g_tensors.push_back(host_tensor(grads.back().data(), LLMRT_DTYPE_F32, shape));
    }
    const size_t act = size_t(s.b * s.t * s.c);
    x.resize(act), y.resize(act), dy.resize(act), dx.resize(act);
    for (float& v : x) v = normal(rng) * 20;
    for (float& v : dy) v = normal(rng);
    in = host_tensor(x.data(), LLMRT_DTYPE_F32, {s.b, s.t, s.c}), out = host_tensor(y.data(), LLMRT_DTYPE_F32, {s.b, s.t, s.c});
    grad_out = host_tensor(dy.data(), LLMRT_DTYPE_F32, {s.b, s.t, s.c});
    grad_in = host_tensor(dx.data(), LLMRT_DTYPE_F32, {s.b, s.t, s.c});
    saved.resize(*layer_saved_bytes(*layer, s.b, s.t));
  }
  [[noreturn]] static void fail(const std::string& message) {
    std::fprintf(stderr, "bench_op_table: %s\n", message.c_str());
    std::exit(1);
  }

  void step() {
    llmrt_call_ctx ctx{};
    ctx.struct_size = sizeof(ctx);
    ctx.device = {LLMRT_DEVICE_CPU, 0};
    ctx.tp_size = 1;
    const ForwardCall f{.in = {&in, 1}, .params = p_tensors, .out = {&out, 1}, .saved = saved};
    const BackwardCall b{.grad_out = {&grad_out, 1}, .in = {&in, 1}, .params = p_tensors, .saved = saved,
                         .grad_in = {&grad_in, 1}, .grad_params = g_tensors};
    if (!layer_forward(*layer, ctx, f, "forward").ok() || !layer_backward_input(*layer, ctx, b, "backward_input").ok() ||
        !layer_backward_weight(*layer, ctx, b, "backward_weight").ok()) {
      fail("a pass failed");
    }
  }
  double time(int iters) {
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; ++i) step();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / iters;
  }
};

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_op_table EXAMPLE_SO [B T C HEADS ROUNDS ITERS]\n");
    return 2;
  }
  const auto arg = [&](int i, long fallback) { return argc > i ? std::atol(argv[i]) : fallback; };
  const Shape shape{arg(2, 4), arg(3, 256), arg(4, 384), arg(5, 6)};
  const int rounds = int(arg(6, 15)), iters = int(arg(7, 3));
  auto registry = load_plugins(PluginSearchOptions{});
  if (!registry.ok()) Bench::fail(registry.error().message());
  const Status loaded = load_plugin_file(*registry, argv[1], {});
  if (!loaded.ok()) Bench::fail(loaded.error().message());
  Bench builtin(*registry->find("gpt.block"), shape), example(*registry->find("example.gpt_block"), shape);

  builtin.step(), example.step();  // warm up, and compare the bits of one step from zeroed gradients
  bool same = same_bits(builtin.y, example.y) && same_bits(builtin.dx, example.dx);
  for (size_t i = 0; i < builtin.grads.size(); ++i) same = same && same_bits(builtin.grads[i], example.grads[i]);
  std::vector<double> ratios, t_builtin, t_example;
  for (int r = 0; r < rounds; ++r) {
    const bool builtin_first = r % 2 == 0;
    const double first = builtin_first ? builtin.time(iters) : example.time(iters);
    const double second = builtin_first ? example.time(iters) : builtin.time(iters);
    t_builtin.push_back(builtin_first ? first : second);
    t_example.push_back(builtin_first ? second : first);
    ratios.push_back(t_example.back() / t_builtin.back());
  }
  const auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  std::printf("shape B=%ld T=%ld C=%ld heads=%ld, %d rounds x %d steps, threads %s\n", long(shape.b), long(shape.t),
              long(shape.c), long(shape.heads), rounds, iters, std::getenv("OMP_NUM_THREADS") ? std::getenv("OMP_NUM_THREADS") : "default");
  std::printf("gpt.block          %.2f ms per fwd+bwd (median)\n", median(t_builtin) * 1e3);
  std::printf("example.gpt_block  %.2f ms per fwd+bwd (median)\n", median(t_example) * 1e3);
  std::printf("ratio example/builtin: median %.3f, min %.3f, max %.3f\n", median(ratios),
              *std::min_element(ratios.begin(), ratios.end()), *std::max_element(ratios.begin(), ratios.end()));
  std::printf("same bits (y, dx, every weight gradient): %s\n", same ? "yes" : "NO");
  return same ? 0 : 1;
}
