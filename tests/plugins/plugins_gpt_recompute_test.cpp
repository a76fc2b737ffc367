// Activation recompute in the GPT layers (issue 12), through the real loader and C ABI: the
// flags each layer declares; gpt.block created selective saves exactly ln1, ln2 (N, C) and
// fc_act (N, 4C) less and still gives bit-identical outputs, input gradients and parameter
// gradients (also with backward_weight run later, as zero-bubble schedules do); its cost hints;
// the CUDA refusal of a selective block; and the promise full recompute relies on: a forward
// run again on the same input writes the same output and saved bytes.
#define BOOST_TEST_MODULE plugins_gpt_recompute
#include "plugins/plugins_test_support.h"

#include <cstring>

#include "plugin/host_api.h"

using namespace plugins_test;

namespace {

constexpr int64_t kB = 2, kT = 5, kC = 12, kHeads = 3;

std::map<std::string, ParamValue> block_keys() {
  return {{"d_model", kC}, {"heads", kHeads}, {"n_layer_for_init", std::int64_t{4}}};
}

struct Pass {
  std::vector<float> out, dx;
  std::vector<std::vector<float>> grads;
};

// forward, backward_input, then backward_weight (after a second microbatch's forward when
// `weight_later`, so the saved buffer must carry what backward_weight needs).
Pass run_block(LayerRig& rig, std::vector<float> x, std::vector<float> grad_out, bool weight_later) {
  Pass pass;
  rig.zero_grads();
  std::vector<float> saved = rig.saved_buffer(kB, kT), other = saved;
  pass.out.assign(x.size(), 0.0f);
  pass.dx.assign(x.size(), 0.0f);
  llmrt_tensor in = f32(x, {kB, kT, kC}), out = f32(pass.out, {kB, kT, kC});
  llmrt_tensor go = f32(grad_out, {kB, kT, kC}), gi = f32(pass.dx, {kB, kT, kC});
  auto params = rig.param_tensors();
  auto grads = rig.grad_tensors();
  const llmrt_call_ctx ctx = cpu_ctx();
  require_ok(layer_forward(*rig.instance, ctx, {.in = {&in, 1}, .params = params, .out = {&out, 1},
                                                .saved = bytes_of(saved)}, "forward"));
  const BackwardCall call{.grad_out = {&go, 1}, .in = {&in, 1}, .params = params, .saved = bytes_of(saved),
                          .grad_in = {&gi, 1}, .grad_params = grads};
  require_ok(layer_backward_input(*rig.instance, ctx, call, "backward_input"));
  if (weight_later) {
    std::vector<float> scratch(x.size());
    llmrt_tensor scratch_out = f32(scratch, {kB, kT, kC});
    require_ok(layer_forward(*rig.instance, ctx, {.in = {&in, 1}, .params = params, .out = {&scratch_out, 1},
                                                  .saved = bytes_of(other)}, "forward (another microbatch)"));
  }
  require_ok(layer_backward_weight(*rig.instance, ctx, call, "backward_weight"));
  pass.grads = rig.grads;
  return pass;
}

std::uint32_t flags_of(const Registry& registry, const std::string& name) {
  return find_component(registry, name).layer().flags;
}

}  // namespace

BOOST_AUTO_TEST_CASE(gpt_layers_declare_what_they_recompute) {
  Registry registry = load_builtin_plugins();
  BOOST_TEST(flags_of(registry, "gpt.block") == (LLMRT_LAYER_RECOMPUTE_FULL | LLMRT_LAYER_RECOMPUTE_SELECTIVE | LLMRT_LAYER_GRAPH_SAFE));
  BOOST_TEST(flags_of(registry, "gpt.head") == (LLMRT_LAYER_FUSED_BACKWARD | LLMRT_LAYER_RECOMPUTE_FULL | LLMRT_LAYER_GRAPH_SAFE));
  BOOST_TEST(flags_of(registry, "gpt.embedding") == (LLMRT_LAYER_RECOMPUTE_FULL | LLMRT_LAYER_RECOMPUTE_SELECTIVE | LLMRT_LAYER_GRAPH_SAFE));
}

BOOST_AUTO_TEST_CASE(selective_block_saves_less_and_gives_the_same_bits) {
  Registry registry = load_builtin_plugins();
  std::mt19937 rng_none(11), rng_selective(11);  // the same parameters in both instances
  LayerRig none = make_rig(registry, "gpt.block", block_keys(), 0.3f, rng_none);
  LayerRig selective = make_rig(registry, "gpt.block", block_keys(), 0.3f, rng_selective, LLMRT_RECOMPUTE_SELECTIVE);
  BOOST_REQUIRE(none.params == selective.params);
  const int64_t n = kB * kT, h = 4 * kC;
  const auto none_bytes = layer_saved_bytes(*none.instance, kB, kT);
  const auto selective_bytes = layer_saved_bytes(*selective.instance, kB, kT);
  BOOST_REQUIRE(none_bytes.ok() && selective_bytes.ok());
  BOOST_TEST(*none_bytes - *selective_bytes == size_t(4 * (2 * n * kC + n * h)));  // f32 ln1, ln2, fc_act

  std::mt19937 rng(5);
  const std::vector<float> x = random_floats(size_t(n * kC), -1, 1, rng), dy = random_floats(size_t(n * kC), -1, 1, rng);
  for (bool weight_later : {false, true}) {
    const Pass a = run_block(none, x, dy, weight_later), b = run_block(selective, x, dy, weight_later);
    BOOST_TEST(a.out == b.out, boost::test_tools::per_element());
    BOOST_TEST(a.dx == b.dx, boost::test_tools::per_element());
    for (size_t p = 0; p < a.grads.size(); ++p) {
      BOOST_TEST(a.grads[p] == b.grads[p], "d" << none.specs[p].name << (weight_later ? " (W later)" : ""));
    }
    BOOST_TEST(std::any_of(a.grads[8].begin(), a.grads[8].end(), [](float v) { return v != 0.0f; }));  // fc_w
  }
}

BOOST_AUTO_TEST_CASE(block_cost_hints_for_recompute) {
  Registry registry = load_builtin_plugins();
  std::mt19937 rng(1);
  LayerRig none = make_rig(registry, "gpt.block", block_keys(), 0.3f, rng);
  LayerRig selective = make_rig(registry, "gpt.block", block_keys(), 0.3f, rng, LLMRT_RECOMPUTE_SELECTIVE);
  const auto a = layer_cost_hints(*none.instance, kB, kT), b = layer_cost_hints(*selective.instance, kB, kT);
  BOOST_REQUIRE(a.ok() && b.ok());
  const double n = kB * kT, h = 4 * kC;
  // The same in both modes, but activation_bytes: each instance's own saved_bytes.
  BOOST_TEST(a->selective_activation_bytes == b->selective_activation_bytes);
  BOOST_TEST(a->selective_activation_bytes == double(*layer_saved_bytes(*selective.instance, kB, kT)));
  BOOST_TEST(a->activation_bytes == double(*layer_saved_bytes(*none.instance, kB, kT)));
  BOOST_TEST(b->activation_bytes == b->selective_activation_bytes);
  BOOST_TEST(a->input_bytes == 4 * n * kC);
  BOOST_TEST(a->selective_recompute_flops == 2 * 4 * n * kC + 8 * n * h);
}

// Selective recompute has a CUDA branch now (block_backward_cuda.cpp remakes ln1, ln2 and
// fc_act): both modes declare the same devices and dtypes.
BOOST_AUTO_TEST_CASE(selective_block_runs_where_none_runs) {
  Registry registry = load_builtin_plugins();
  std::mt19937 rng(2);
  const std::map<std::string, ParamValue> keys = {{"d_model", std::int64_t{16}}, {"heads", std::int64_t{2}}, {"n_layer_for_init", std::int64_t{4}}};  // hs 8
  LayerRig selective = make_rig(registry, "gpt.block", keys, 0.3f, rng, LLMRT_RECOMPUTE_SELECTIVE);
  LayerRig none = make_rig(registry, "gpt.block", keys, 0.3f, rng);
  for (std::int32_t device : {LLMRT_DEVICE_CPU, LLMRT_DEVICE_CUDA}) {
    for (std::int32_t dtype : {LLMRT_DTYPE_F32, LLMRT_DTYPE_BF16, LLMRT_DTYPE_F16, LLMRT_DTYPE_I32}) {
      const auto a = layer_supports(*selective.instance, device, dtype), b = layer_supports(*none.instance, device, dtype);
      BOOST_REQUIRE(a.ok() && b.ok());
      BOOST_TEST(*a == *b, "device " << device << " dtype " << dtype);
      BOOST_TEST(a->empty() == (dtype != LLMRT_DTYPE_I32), "device " << device << " dtype " << dtype << ": " << *a);
    }
  }
}

// LLMRT_LAYER_RECOMPUTE_FULL: forward twice on one input, into buffers filled with different
// garbage, writes the same output and the same saved bytes (gpt.block; gpt.head has no RNG or
// state either, and the exec test reruns it).
BOOST_AUTO_TEST_CASE(forward_runs_again_to_the_same_bytes) {
  Registry registry = load_builtin_plugins();
  std::mt19937 rng(9);
  LayerRig block = make_rig(registry, "gpt.block", block_keys(), 0.3f, rng);
  std::vector<float> x = random_floats(size_t(kB * kT * kC), -1, 1, rng);
  llmrt_tensor in = f32(x, {kB, kT, kC});
  auto params = block.param_tensors();
  std::vector<std::vector<float>> outs, saves;
  for (float garbage : {0.0f, 7.5f}) {
    std::vector<float> out(x.size(), garbage), saved = block.saved_buffer(kB, kT);
    std::fill(saved.begin(), saved.end(), garbage);
    llmrt_tensor out_t = f32(out, {kB, kT, kC});
    require_ok(layer_forward(*block.instance, cpu_ctx(),
                             {.in = {&in, 1}, .params = params, .out = {&out_t, 1}, .saved = bytes_of(saved)}, "forward"));
    outs.push_back(out);
    // Only forward's regions: the rest is backward_input's, which forward leaves alone.
    saved.resize(saved.size() - size_t(kB * kT) * (3 * kC + 4 * kC + 3 * kC));
    saves.push_back(saved);
  }
  BOOST_TEST(outs[0] == outs[1], boost::test_tools::per_element());
  BOOST_TEST(saves[0] == saves[1], boost::test_tools::per_element());
}
