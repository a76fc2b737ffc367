// gpt.embedding, gpt.block and gpt.head through the real loader and C ABI: parameter specs,
// central-difference gradient checks of every input and parameter element, split backward
// passes run out of order, and the errors a bad config or an unsupported device gives.
#define BOOST_TEST_MODULE plugins_gpt_layers
#include "plugins/plugins_test_support.h"

#include <algorithm>

#include "plugin/host_api.h"

using namespace plugins_test;

namespace {

// Odd sizes on purpose: B=2, T=5, C=12, 3 heads (hs=4), V=11, wpe rows 7 > T.
constexpr int64_t kB = 2, kT = 5, kC = 12, kHeads = 3, kV = 11, kSeqLen = 7;
// Central differences in fp32 with this step; the loss is accumulated in double so the
// difference quotient's rounding noise stays near 1e-5. A gradient passes when
// |fd - analytic| <= kAbsTol + kRelTol |analytic| (the worst seen is about 12% of that).
constexpr double kEps = 1e-2, kAbsTol = 5e-4, kRelTol = 5e-3;

// One layer call setup: the inputs as passed, the float input to differentiate (if any) and
// grad_out; the scalar checked is L = sum(out * grad_out).
struct Case {
  std::vector<llmrt_tensor> in;
  std::vector<float>* x = nullptr;
  std::vector<int64_t> x_shape;
  std::vector<int64_t> out_shape;
  std::vector<float> grad_out;
};

struct Gradients {
  std::vector<float> dx;
  std::vector<std::vector<float>> dparams;
};

size_t count_of(const std::vector<int64_t>& shape) {
  size_t n = 1;
  for (int64_t d : shape) n *= size_t(d);
  return n;
}

llmrt_tensor out_tensor(std::vector<float>& data, const Case& c) { return f32(data, c.out_shape); }

void forward(LayerRig& rig, const Case& c, std::vector<float>& out, std::vector<float>& saved) {
  out.assign(count_of(c.out_shape), 0.0f);
  llmrt_tensor out_t = out_tensor(out, c);
  auto params = rig.param_tensors();
  llmrt_call_ctx ctx = cpu_ctx();
  require_ok(layer_forward(*rig.instance, ctx,
                           {.in = c.in, .params = params, .out = {&out_t, 1}, .saved = bytes_of(saved)}, "forward"));
}

double objective(LayerRig& rig, const Case& c) {
  std::vector<float> out, saved = rig.saved_buffer(kB, kT);
  forward(rig, c, out, saved);
  double loss = 0;
  for (size_t i = 0; i < out.size(); ++i) loss += double(out[i]) * double(c.grad_out[i]);
  return loss;
}

// backward_input (grad_in written, grads untouched unless fused), then backward_weight.
void backward(LayerRig& rig, Case& c, std::vector<float>& saved, std::vector<float>& dx, bool input_pass,
              bool weight_pass) {
  std::vector<float> grad_out = c.grad_out;
  llmrt_tensor go = out_tensor(grad_out, c);
  auto params = rig.param_tensors();
  auto grads = rig.grad_tensors();
  std::vector<llmrt_tensor> gi;
  if (c.x != nullptr) gi.push_back(f32(dx, c.x_shape));
  llmrt_call_ctx ctx = cpu_ctx();
  const BackwardCall call{.grad_out = {&go, 1}, .in = c.in, .params = params, .saved = bytes_of(saved),
                          .grad_in = gi, .grad_params = grads};
  if (input_pass) require_ok(layer_backward_input(*rig.instance, ctx, call, "backward_input"));
  if (weight_pass && has_backward_weight(*rig.component)) {
    require_ok(layer_backward_weight(*rig.instance, ctx, call, "backward_weight"));
  }
}

Gradients analytic(LayerRig& rig, Case& c) {
  rig.zero_grads();
  std::vector<float> out, saved = rig.saved_buffer(kB, kT);
  Gradients g;
  g.dx.assign(c.x != nullptr ? c.x->size() : 0, 0.0f);
  forward(rig, c, out, saved);
  backward(rig, c, saved, g.dx, true, true);
  g.dparams = rig.grads;
  return g;
}

// Central difference of L in every element of `values` against `grad`; returns the worst ratio.
double check_fd(LayerRig& rig, const Case& c, std::vector<float>& values, const std::vector<float>& grad,
                const std::string& name) {
  std::vector<double> fd(values.size()), an(grad.begin(), grad.end());
  double largest = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    const float saved_value = values[i];
    values[i] = saved_value + float(kEps);
    const double up = objective(rig, c);
    values[i] = saved_value - float(kEps);
    const double down = objective(rig, c);
    values[i] = saved_value;
    fd[i] = (up - down) / (2 * kEps);
    largest = std::max(largest, std::abs(an[i]));
  }
  Mismatch m = compare(an, fd, kAbsTol, kRelTol);
  BOOST_TEST_MESSAGE(name << ": worst |fd - analytic| / tol = " << m.worst);
  BOOST_TEST(m.worst <= 1.0, name << "[" << m.index << "]: analytic " << an[m.index] << ", fd " << fd[m.index]);
  BOOST_TEST(largest > 1e-3, name << ": gradient is all (near) zero");
  return m.worst;
}

void check_all_gradients(LayerRig& rig, Case& c) {
  Gradients g = analytic(rig, c);
  if (c.x != nullptr) check_fd(rig, c, *c.x, g.dx, "dx");
  for (size_t p = 0; p < rig.params.size(); ++p) {
    if (std::string(rig.specs[p].name) == "wpe") continue;  // checked by the embedding test itself
    check_fd(rig, c, rig.params[p], g.dparams[p], std::string("d") + rig.specs[p].name);
  }
}

std::vector<int32_t> random_ids(size_t n, int32_t bound, std::mt19937& rng) {
  std::uniform_int_distribution<int32_t> dist(0, bound - 1);
  std::vector<int32_t> ids(n);
  for (int32_t& id : ids) id = dist(rng);
  return ids;
}

std::map<std::string, ParamValue> block_keys() {
  return {{"d_model", kC}, {"heads", kHeads}, {"n_layer_for_init", std::int64_t{4}}};
}

}  // namespace

BOOST_AUTO_TEST_CASE(block_param_specs_follow_megatron) {
  Registry registry = load_builtin_plugins();
  std::mt19937 rng(1);
  LayerRig rig = make_rig(registry, "gpt.block", block_keys(), 0.3f, rng);
  const std::vector<std::string> names = {"ln1_w", "ln1_b", "qkv_w", "qkv_b", "proj_w", "proj_b",
                                          "ln2_w", "ln2_b", "fc_w",  "fc_b",  "fc2_w",  "fc2_b"};
  const std::vector<int> shard = {-1, -1, 1, 1, 1, -1, -1, -1, 0, 0, 1, -1};
  BOOST_REQUIRE(rig.specs.size() == names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    BOOST_TEST(rig.specs[i].name == names[i]);
    BOOST_TEST(rig.specs[i].shard_dim == shard[i], names[i]);
  }
  BOOST_TEST(rig.specs[2].rank == 3);
  BOOST_TEST(rig.specs[2].shape[0] == 3);
  BOOST_TEST(rig.specs[8].shape[0] == 4 * kC);
  BOOST_TEST(rig.specs[10].shape[1] == 4 * kC);
  BOOST_TEST(rig.specs[0].init == LLMRT_INIT_ONES);
  BOOST_TEST(rig.specs[2].init_scale == 0.02);
  BOOST_TEST(rig.specs[4].init_scale == 0.02 / std::sqrt(8.0), boost::test_tools::tolerance(1e-12));
  BOOST_TEST(rig.specs[10].init_scale == 0.02 / std::sqrt(8.0), boost::test_tools::tolerance(1e-12));

  auto hinted = layer_cost_hints(*rig.instance, kB, kT);
  BOOST_REQUIRE(hinted.ok());
  const llmrt_cost_hints hints = *hinted;
  const double matmul = 2.0 * kB * kT * 12 * kC * kC;
  BOOST_TEST(hints.forward_flops == matmul + 4.0 * kB * kT * kT * kC);
  BOOST_TEST(hints.backward_weight_flops == matmul);
  auto saved = layer_saved_bytes(*rig.instance, kB, kT);
  BOOST_REQUIRE(saved.ok());
  BOOST_TEST(hints.activation_bytes == double(*saved));
}

BOOST_AUTO_TEST_CASE(block_gradients_match_finite_differences) {
  Registry registry = load_builtin_plugins();
  std::mt19937 rng(2);
  LayerRig rig = make_rig(registry, "gpt.block", block_keys(), 0.3f, rng);
  std::vector<float> x = random_floats(kB * kT * kC, -1.0f, 1.0f, rng);  // (B, T, C)
  Case c;
  c.in = {f32(x, {kB, kT, kC})};
  c.x = &x;
  c.x_shape = c.out_shape = {kB, kT, kC};
  c.grad_out = random_floats(kB * kT * kC, -1.0f, 1.0f, rng);
  check_all_gradients(rig, c);
}

// A zero-bubble schedule runs both microbatches' forwards, the input passes in reverse and the
// weight passes last; each microbatch's saved buffer must carry everything, so the result equals
// running each microbatch's passes back to back. backward_input must not touch weight grads.
BOOST_AUTO_TEST_CASE(block_split_backward_in_any_order) {
  Registry registry = load_builtin_plugins();
  std::mt19937 rng(3);
  LayerRig rig = make_rig(registry, "gpt.block", block_keys(), 0.3f, rng);
  std::vector<float> x1 = random_floats(kB * kT * kC, -1, 1, rng), x2 = random_floats(kB * kT * kC, -1, 1, rng);
  Case c1, c2;
  c1.in = {f32(x1, {kB, kT, kC})}, c2.in = {f32(x2, {kB, kT, kC})};
  c1.x = &x1, c2.x = &x2;
  c1.x_shape = c1.out_shape = c2.x_shape = c2.out_shape = {kB, kT, kC};
  c1.grad_out = random_floats(kB * kT * kC, -1, 1, rng), c2.grad_out = random_floats(kB * kT * kC, -1, 1, rng);

  std::vector<float> out, s1 = rig.saved_buffer(kB, kT), s2 = s1, dx1(x1.size()), dx2(x2.size());
  rig.zero_grads();
  forward(rig, c1, out, s1);
  backward(rig, c1, s1, dx1, true, true);
  forward(rig, c2, out, s2);
  backward(rig, c2, s2, dx2, true, true);
  const auto sequential = rig.grads;

  std::vector<float> e1(x1.size()), e2(x2.size());
  rig.zero_grads();
  forward(rig, c1, out, s1);
  forward(rig, c2, out, s2);
  backward(rig, c2, s2, e2, true, false);
  backward(rig, c1, s1, e1, true, false);
  for (const auto& g : rig.grads) BOOST_TEST(std::all_of(g.begin(), g.end(), [](float v) { return v == 0.0f; }));
  backward(rig, c2, s2, e2, false, true);
  backward(rig, c1, s1, e1, false, true);
  BOOST_TEST(dx1 == e1, boost::test_tools::per_element());
  BOOST_TEST(dx2 == e2, boost::test_tools::per_element());
  for (size_t p = 0; p < sequential.size(); ++p) {
    std::vector<double> got(rig.grads[p].begin(), rig.grads[p].end()), want(sequential[p].begin(), sequential[p].end());
    BOOST_TEST(compare(got, want, 1e-6, 1e-5).worst <= 1.0, rig.specs[p].name);
  }
}

BOOST_AUTO_TEST_CASE(block_heads_must_divide_d_model) {
  Registry registry = load_builtin_plugins();
  const Component& block = find_component(registry, "gpt.block");
  auto config = resolve_component_config(block, spec_with("gpt.block", {{"d_model", kC}, {"heads", std::int64_t{5}}}));
  BOOST_REQUIRE(config.ok());
  llmrt_layer_context context{sizeof(llmrt_layer_context), 0, 1, LLMRT_DTYPE_F32, 0, LLMRT_RECOMPUTE_NONE};
  void* instance = nullptr;
  llmrt_status* status = block.layer().create(plugin_host_api(), config->get(), &context, &instance);
  BOOST_REQUIRE(status != nullptr);
  BOOST_TEST(plugin_host_api()->status_code(status) == LLMRT_INVALID_ARGUMENT);
  const std::string message = plugin_host_api()->status_message(status);
  BOOST_TEST(message.find("heads = 5 does not divide d_model = 12") != std::string::npos, message);
  plugin_host_api()->status_free(status);
  auto refused = create_layer(block, *config, context);
  BOOST_REQUIRE(!refused.ok());
  BOOST_TEST(static_cast<int>(refused.error().kind()) == static_cast<int>(ErrorKind::kInput));
}

BOOST_AUTO_TEST_CASE(other_devices_are_unimplemented) {
  Registry registry = load_builtin_plugins();
  std::mt19937 rng(4);
  LayerRig rig = make_rig(registry, "gpt.block", block_keys(), 0.3f, rng);
  std::vector<float> x = random_floats(kB * kT * kC, -1, 1, rng), y(x.size()), saved = rig.saved_buffer(kB, kT);
  llmrt_tensor in = f32(x, {kB, kT, kC}), out = f32(y, {kB, kT, kC});
  auto params = rig.param_tensors();
  // CUDA: this rig's head size (4) is one the CUDA attention kernels do not take, and a build
  // without CUDA has no branch at all; an unknown device type has no path in any build.
  for (const auto& [type, says] : {std::pair<int32_t, std::string>{LLMRT_DEVICE_CUDA, "CUDA"},
                                   std::pair<int32_t, std::string>{9, "has no implementation"}}) {
    llmrt_call_ctx ctx = cpu_ctx();
    ctx.device.type = type;
    const Status refused = layer_forward(
        *rig.instance, ctx, {.in = {&in, 1}, .params = params, .out = {&out, 1}, .saved = bytes_of(saved)}, "forward");
    BOOST_REQUIRE(!refused.ok());
    // LLMRT_UNIMPLEMENTED: a missing path, not the user's input.
    BOOST_TEST(static_cast<int>(refused.error().kind()) == static_cast<int>(ErrorKind::kRuntime));
    BOOST_TEST(refused.error().message().find(says) != std::string::npos, refused.error().message());
  }
}

// What the GPT layers declare: the CPU and CUDA, each with f32, bf16 or f16 (fp32 arithmetic,
// kernels/cuda's templates on CUDA); other dtypes are refused with the reason, and on CUDA
// gpt.block also refuses head sizes its attention kernels do not take (multiples of 8 to 128).
BOOST_AUTO_TEST_CASE(gpt_layers_declare_their_devices_and_dtypes) {
  Registry registry = load_builtin_plugins();
  std::mt19937 rng(7);
  // Head size 8: one the CUDA attention takes.
  LayerRig rig = make_rig(registry, "gpt.block", {{"d_model", std::int64_t{16}}, {"heads", std::int64_t{2}}, {"n_layer_for_init", std::int64_t{4}}}, 0.3f, rng);
  LayerRig small_heads = make_rig(registry, "gpt.block", block_keys(), 0.3f, rng);  // head size 4
  const auto answer = [&](LayerRig& layer, std::int32_t device, std::int32_t dtype) {
    auto reason = layer_supports(*layer.instance, device, dtype);
    BOOST_REQUIRE_MESSAGE(reason.ok(), (reason.ok() ? "" : reason.error().message()));
    return *reason;
  };
  for (std::int32_t dtype : {LLMRT_DTYPE_F32, LLMRT_DTYPE_BF16, LLMRT_DTYPE_F16}) {
    BOOST_TEST(answer(rig, LLMRT_DEVICE_CPU, dtype) == "", "CPU dtype " << dtype);
    BOOST_TEST(answer(rig, LLMRT_DEVICE_CUDA, dtype) == "", "CUDA dtype " << dtype);
    BOOST_TEST(answer(small_heads, LLMRT_DEVICE_CPU, dtype) == "", "CPU dtype " << dtype);
    BOOST_TEST(answer(small_heads, LLMRT_DEVICE_CUDA, dtype) ==
                   "on CUDA the attention kernels take head sizes d_model / heads that are multiples of 8 up to 128, "
                   "found 4",
               "CUDA dtype " << dtype);
  }
  BOOST_TEST(answer(rig, LLMRT_DEVICE_CPU, LLMRT_DTYPE_I32) == "on the CPU only f32, bf16 and f16 activations are implemented");
  BOOST_TEST(answer(rig, LLMRT_DEVICE_CUDA, LLMRT_DTYPE_I32) == "on CUDA only f32, bf16 and f16 activations are implemented");
}

BOOST_AUTO_TEST_CASE(embedding_forward_and_weight_gradients) {
  Registry registry = load_builtin_plugins();
  std::mt19937 rng(5);
  LayerRig rig = make_rig(registry, "gpt.embedding",
                          {{"d_model", kC}, {"vocab_size", kV}, {"seq_len", kSeqLen}}, 0.5f, rng);
  BOOST_REQUIRE(rig.specs.size() == 2u);
  BOOST_TEST(std::string(rig.specs[0].tie_name) == "wte");
  BOOST_TEST(rig.specs[1].shape[0] == kSeqLen);
  std::vector<int32_t> tokens = random_ids(kB * kT, int32_t(kV), rng);  // (B, T)
  Case c;
  c.in = {i32(tokens, {kB, kT})};
  c.out_shape = {kB, kT, kC};
  c.grad_out = random_floats(kB * kT * kC, -1, 1, rng);

  std::vector<float> out, saved;
  forward(rig, c, out, saved);
  BOOST_TEST(out[kC + 1] == rig.params[0][tokens[1] * kC + 1] + rig.params[1][1 * kC + 1]);
  Gradients g = analytic(rig, c);
  check_fd(rig, c, rig.params[0], g.dparams[0], "dwte");
  check_fd(rig, c, rig.params[1], g.dparams[1], "dwpe");
  // Positions beyond T get nothing.
  BOOST_TEST(g.dparams[1][kT * kC] == 0.0f);
}

BOOST_AUTO_TEST_CASE(head_tied_and_untied_gradients) {
  Registry registry = load_builtin_plugins();
  for (bool tied : {true, false}) {
    std::mt19937 rng(6);
    LayerRig rig = make_rig(registry, "gpt.head", {{"d_model", kC}, {"vocab_size", kV}, {"tied_embedding", tied}},
                            0.5f, rng);
    BOOST_REQUIRE(rig.specs.size() == 3u);
    BOOST_TEST(std::string(rig.specs[2].name) == (tied ? "wte" : "lm_head_w"));
    BOOST_TEST((rig.specs[2].tie_name != nullptr) == tied);
    BOOST_TEST(!has_backward_weight(*rig.component));  // fused: logits are recomputed once
    std::vector<float> x = random_floats(kB * kT * kC, -1, 1, rng);  // (B, T, C)
    std::vector<int32_t> targets = random_ids(kB * kT, int32_t(kV), rng);
    Case c;
    c.in = {f32(x, {kB, kT, kC}), i32(targets, {kB, kT})};
    c.x = &x;
    c.x_shape = {kB, kT, kC};
    c.out_shape = {};
    c.grad_out = {0.5f};  // as with 2 microbatches of gradient accumulation
    std::vector<float> loss, saved = rig.saved_buffer(kB, kT);
    forward(rig, c, loss, saved);
    BOOST_TEST(loss[0] > 1.0f);  // about log(11) for near-uniform logits
    check_all_gradients(rig, c);
  }
}

// vocab_pad_multiple = 8: the projection is (16, C) for V = 11, flagged LLMRT_PARAM_VOCAB_ROWS.
// Its rows [V, 16) are left random here (the host keeps them zero): the loss, dx and dlnf are the
// unpadded head's all the same, because the padded logits are outside the loss; their rows of dW
// get exactly nothing; without targets the logits are (B, T, V); the GEMM's FLOPs count 16 rows.
BOOST_AUTO_TEST_CASE(head_with_a_padded_vocabulary_computes_the_unpadded_head) {
  Registry registry = load_builtin_plugins();
  constexpr int64_t kVp = 16;
  std::mt19937 rng(8);
  LayerRig plain = make_rig(registry, "gpt.head", {{"d_model", kC}, {"vocab_size", kV}}, 0.5f, rng);
  LayerRig padded = make_rig(registry, "gpt.head",
                             {{"d_model", kC}, {"vocab_size", kV}, {"vocab_pad_multiple", std::int64_t{8}}}, 0.5f, rng);
  BOOST_REQUIRE(padded.specs[2].shape[0] == kVp);
  BOOST_TEST((padded.specs[2].flags & LLMRT_PARAM_VOCAB_ROWS) != 0u);
  BOOST_TEST((plain.specs[2].flags & LLMRT_PARAM_VOCAB_ROWS) != 0u);  // either way: a resume may re-pad it
  padded.params[0] = plain.params[0], padded.params[1] = plain.params[1];
  std::copy(plain.params[2].begin(), plain.params[2].end(), padded.params[2].begin());  // real rows; padding random

  std::vector<float> x = random_floats(kB * kT * kC, -1, 1, rng);  // (B, T, C)
  std::vector<int32_t> targets = random_ids(kB * kT, int32_t(kV), rng);
  Case c;
  c.in = {f32(x, {kB, kT, kC}), i32(targets, {kB, kT})};
  c.x = &x;
  c.x_shape = {kB, kT, kC};
  c.grad_out = {0.5f};
  const Gradients want = analytic(plain, c), got = analytic(padded, c);
  BOOST_TEST(std::abs(objective(padded, c) - objective(plain, c)) <= 1e-6 * std::abs(objective(plain, c)));
  auto close = [](const std::vector<float>& a, const std::vector<float>& b, size_t count) {
    double worst = 0;
    for (size_t i = 0; i < count; ++i) worst = std::max(worst, double(std::abs(a[i] - b[i])));
    return worst;
  };
  BOOST_TEST(close(got.dx, want.dx, want.dx.size()) < 1e-6);
  BOOST_TEST(close(got.dparams[0], want.dparams[0], size_t(kC)) < 1e-6);
  BOOST_TEST(close(got.dparams[2], want.dparams[2], size_t(kV * kC)) < 1e-6);
  BOOST_TEST(std::count(got.dparams[2].begin() + kV * kC, got.dparams[2].end(), 0.0f) == (kVp - kV) * kC);
  BOOST_TEST(std::count(want.dparams[2].begin(), want.dparams[2].end(), 0.0f) < 5);  // real rows do get a gradient

  Case logits;  // inference: x alone -> (B, T, V), the padded columns left out
  logits.in = {f32(x, {kB, kT, kC})};
  logits.out_shape = {kB, kT, kV};
  auto shapes = layer_infer_shapes(*padded.instance, logits.in);
  BOOST_REQUIRE(shapes.ok());
  BOOST_TEST((std::vector<int64_t>(shapes->at(0).shape, shapes->at(0).shape + 3) == logits.out_shape));
  std::vector<float> ours, theirs, saved = padded.saved_buffer(kB, kT);
  forward(padded, logits, ours, saved);
  forward(plain, logits, theirs, saved);
  BOOST_TEST(close(ours, theirs, theirs.size()) < 1e-6);
  BOOST_TEST(std::abs(theirs[3]) > 1e-3);

  auto hints = layer_cost_hints(*padded.instance, kB, kT);
  BOOST_REQUIRE(hints.ok());
  BOOST_TEST(hints->forward_flops == 2.0 * kB * kT * kC * kVp);
  BOOST_TEST(hints->parameter_bytes == double(2 + kVp) * kC * 4);
}
