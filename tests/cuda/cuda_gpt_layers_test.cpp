// The GPT layers' CUDA branch (plugins/gpt/*_cuda.cpp) against the CPU path of the same classes at
// bf16 (which rounds at the points a GPU stores 16 bits): forward and both backward passes of
// gpt.embedding, gpt.block and gpt.head, on odd shapes and at the benchmark's (C = 768, T = 1024
// for one block; V = 50304 for the head), with weights and gradients at odd offsets of flat
// buffers and a non-default stream. Gradients start non-zero on both sides, so `+=` is checked.
#define BOOST_TEST_MODULE cuda_gpt_layers
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <memory>
#include <random>

#include "cuda/cuda_plugin_test_util.h"
#include "gpt/gpt_layers.h"

using namespace llmrt::kernels::cuda_test;
using llmrt::ComponentArgs;
using llmrt::ParamSpec;
using llmrt::kernels::test::random_floats;

namespace {

std::vector<std::vector<int64_t>> shapes_of(const std::vector<ParamSpec>& specs) {
  std::vector<std::vector<int64_t>> shapes;
  for (const ParamSpec& spec : specs) shapes.push_back(spec.shape);
  return shapes;
}

// Weights as GPT layers see them in training: LayerNorm gains near 1, linear weights of scale
// 1/sqrt(fan-in), small biases; gradients random (they are accumulated into). `shapes` are the
// tensors as the layer receives them (this rank's slices under tensor parallelism).
void fill_params(TwinTensors& params, TwinTensors& grads, const std::vector<ParamSpec>& specs,
                 const std::vector<std::vector<int64_t>>& shapes, std::mt19937& rng) {
  for (size_t i = 0; i < specs.size(); ++i) {
    size_t n = 1;
    for (int64_t d : shapes[i]) n *= size_t(d);
    const float fan_in = float(specs[i].shape.back());
    if (specs[i].init == LLMRT_INIT_ONES) {
      params.fill(i, random_floats(n, rng, 0.8f, 1.2f));
    } else if (specs[i].shape.size() == 1 || (specs[i].shape.size() == 2 && specs[i].shape[0] == 3)) {
      params.fill(i, random_floats(n, rng, -0.1f, 0.1f));  // biases
    } else {
      const float scale = 1.0f / std::sqrt(fan_in);
      params.fill(i, random_floats(n, rng, -scale, scale));
    }
    grads.fill(i, random_floats(n, rng, -0.01f, 0.01f));
  }
}
void fill_params(TwinTensors& params, TwinTensors& grads, const std::vector<ParamSpec>& specs, std::mt19937& rng) {
  fill_params(params, grads, specs, shapes_of(specs), rng);
}

// Every gradient of `grads`: the CUDA side against the CPU side.
void check_grads(const TwinTensors& grads, const std::vector<ParamSpec>& specs, double rows, double factor) {
  for (size_t i = 0; i < specs.size(); ++i) {
    check_close_bf16(grads.device_values(i), grads.host_values(i), rows, "d" + specs[i].name, factor);
  }
}

// At tp > 1 the layers hold one rank's slices (flat, as the ParamStore hands them out) and the
// test host's all_reduce copies (a group that sums one rank): the CPU and CUDA passes still see
// the same numbers, and the CUDA branch's tensor-parallel path (bf16 partials widened to f32,
// all_reduce on the call's stream, the epilogue from f32) runs.
void run_block(int B, int T, int C, int NH, unsigned seed, int tp = 1) {
  BOOST_TEST_MESSAGE("gpt.block B=" << B << " T=" << T << " C=" << C << " NH=" << NH << " tp=" << tp);
  TestHost host;
  TestConfig keys;
  keys.integer("d_model", C).integer("heads", NH).integer("n_layer_for_init", 12);
  llmrt_layer_context context = bf16_layer_context();
  context.tp_size = tp;
  llmrt::gpt::Block cpu_layer(ComponentArgs{host.api(), keys.config(), context});
  llmrt::gpt::Block cuda_layer(ComponentArgs{host.api(), keys.config(), context});
  const std::vector<ParamSpec> specs = cpu_layer.param_specs();
  std::vector<std::vector<int64_t>> shapes = shapes_of(specs);
  if (tp > 1) {
    for (size_t i = 0; i < shapes.size(); ++i) shapes[i] = {cpu_layer.local_numel(i)};
  }
  std::mt19937 rng(seed);
  TwinTensors params(LLMRT_DTYPE_BF16, shapes), grads(LLMRT_DTYPE_F32, shapes);
  fill_params(params, grads, specs, shapes, rng);
  const size_t nc = size_t(B) * T * C;
  TwinTensors acts(LLMRT_DTYPE_BF16, {{B, T, C}, {B, T, C}, {B, T, C}, {B, T, C}});  // x, y, dy, dx
  acts.fill(0, random_floats(nc, rng, -1.0f, 1.0f));
  acts.fill(2, random_floats(nc, rng, -1.0f, 1.0f));
  acts.fill(3, random_floats(nc, rng, -5.0f, 5.0f));  // dx is written, not added to: start with junk
  TwinSaved saved(cpu_layer.saved_bytes(B, T));
  cu::CudaStream stream;  // non-blocking: nothing here runs on the legacy default stream

  for (bool cuda : {false, true}) {
    const llmrt_call_ctx ctx = call_ctx(cuda ? LLMRT_DEVICE_CUDA : LLMRT_DEVICE_CPU, stream.get());
    llmrt::gpt::Block& layer = cuda ? cuda_layer : cpu_layer;
    std::vector<llmrt_tensor> p = cuda ? params.devices() : params.hosts(), g = cuda ? grads.devices() : grads.hosts();
    llmrt_tensor x = cuda ? acts.device(0) : acts.host(0), y = cuda ? acts.device(1) : acts.host(1);
    llmrt_tensor dy = cuda ? acts.device(2) : acts.host(2), dx = cuda ? acts.device(3) : acts.host(3);
    const llmrt::Saved s = cuda ? saved.device_span() : saved.host_span();
    layer.forward(ctx, {&x, 1}, p, {&y, 1}, s);
    layer.backward_input(ctx, {&dy, 1}, {&x, 1}, p, s, {&dx, 1}, g);
    layer.backward_weight(ctx, {&dy, 1}, {&x, 1}, p, s, g);
  }
  stream.synchronize();
  check_close_bf16(acts.device_values(1), acts.host_values(1), C, "y", 8.0);
  check_close_bf16(acts.device_values(3), acts.host_values(3), 4.0 * C, "dx", 16.0);
  check_grads(grads, specs, double(B) * T, 16.0);
}

void run_head(int B, int T, int C, int V, bool loss_on_device, unsigned seed) {
  BOOST_TEST_MESSAGE("gpt.head B=" << B << " T=" << T << " C=" << C << " V=" << V);
  TestHost host;
  TestConfig keys;
  keys.integer("d_model", C).integer("vocab_size", V).boolean("tied_embedding", true);
  llmrt::gpt::Head cpu_layer(ComponentArgs{host.api(), keys.config(), bf16_layer_context()});
  llmrt::gpt::Head cuda_layer(ComponentArgs{host.api(), keys.config(), bf16_layer_context()});
  const std::vector<ParamSpec> specs = cpu_layer.param_specs();
  std::mt19937 rng(seed);
  TwinTensors params(LLMRT_DTYPE_BF16, shapes_of(specs)), grads(LLMRT_DTYPE_F32, shapes_of(specs));
  fill_params(params, grads, specs, rng);
  const size_t n = size_t(B) * T;
  TwinTensors acts(LLMRT_DTYPE_BF16, {{B, T, C}, {B, T, C}});  // x, dx
  acts.fill(0, random_floats(n * C, rng, -1.0f, 1.0f));
  acts.fill(1, random_floats(n * C, rng, -5.0f, 5.0f));
  TwinTensors ids(LLMRT_DTYPE_I32, {{B, T}});
  std::vector<float> targets(n);
  for (float& t : targets) t = float(std::uniform_int_distribution<int>(0, V - 1)(rng));
  ids.fill(0, targets);
  TwinTensors scalars(LLMRT_DTYPE_F32, {{}, {}});  // loss, dloss
  scalars.fill(1, {0.5f});
  TwinSaved saved(cpu_layer.saved_bytes(B, T));
  cu::CudaStream stream;  // non-blocking: nothing here runs on the legacy default stream

  float cpu_loss = 0, cuda_loss = 0;
  for (bool cuda : {false, true}) {
    const llmrt_call_ctx ctx = call_ctx(cuda ? LLMRT_DEVICE_CUDA : LLMRT_DEVICE_CPU, stream.get());
    llmrt::gpt::Head& layer = cuda ? cuda_layer : cpu_layer;
    std::vector<llmrt_tensor> p = cuda ? params.devices() : params.hosts(), g = cuda ? grads.devices() : grads.hosts();
    const bool device_scalars = cuda && loss_on_device;
    std::vector<llmrt_tensor> in = {cuda ? acts.device(0) : acts.host(0), ids.host(0)};
    if (cuda) in[1] = ids.device(0);  // targets on the device; the embedding test sends host tokens
    llmrt_tensor loss = device_scalars ? scalars.device(0) : scalars.host(0);
    llmrt_tensor dloss = device_scalars ? scalars.device(1) : scalars.host(1);
    llmrt_tensor dx = cuda ? acts.device(1) : acts.host(1);
    const llmrt::Saved s = cuda ? saved.device_span() : saved.host_span();
    layer.forward(ctx, in, p, {&loss, 1}, s);
    (cuda ? cuda_loss : cpu_loss) = device_scalars ? scalars.device_values(0)[0] : scalars.host_values(0)[0];
    layer.backward_input(ctx, {&dloss, 1}, in, p, s, {&dx, 1}, g);
  }
  stream.synchronize();
  BOOST_TEST(std::isfinite(cuda_loss));
  BOOST_TEST(std::fabs(cuda_loss - cpu_loss) <= 4 * kEpsBf16 * std::fabs(cpu_loss), cuda_loss << " vs " << cpu_loss);
  check_close_bf16(acts.device_values(1), acts.host_values(1), double(V), "dx", 16.0);
  check_grads(grads, specs, double(n), 16.0);
}

}  // namespace

BOOST_AUTO_TEST_CASE(embedding_forward_and_weight_pass_match_cpu) {
  const int B = 3, T = 19, C = 37, V = 53, kMaxT = 23;
  TestHost host;
  TestConfig keys;
  keys.integer("d_model", C).integer("vocab_size", V).integer("seq_len", kMaxT);
  llmrt::gpt::Embedding cpu_layer(ComponentArgs{host.api(), keys.config(), bf16_layer_context()});
  llmrt::gpt::Embedding cuda_layer(ComponentArgs{host.api(), keys.config(), bf16_layer_context()});
  const std::vector<ParamSpec> specs = cpu_layer.param_specs();
  std::mt19937 rng(21);
  TwinTensors params(LLMRT_DTYPE_BF16, shapes_of(specs)), grads(LLMRT_DTYPE_F32, shapes_of(specs));
  fill_params(params, grads, specs, rng);
  TwinTensors tokens(LLMRT_DTYPE_I32, {{B, T}});
  std::vector<float> ids(size_t(B) * T);
  for (float& t : ids) t = float(std::uniform_int_distribution<int>(0, V - 1)(rng));
  tokens.fill(0, ids);
  TwinTensors acts(LLMRT_DTYPE_BF16, {{B, T, C}, {B, T, C}});  // x, dx
  acts.fill(1, random_floats(size_t(B) * T * C, rng, -1.0f, 1.0f));
  cu::CudaStream stream;  // non-blocking: nothing here runs on the legacy default stream

  for (bool cuda : {false, true}) {
    const llmrt_call_ctx ctx = call_ctx(cuda ? LLMRT_DEVICE_CUDA : LLMRT_DEVICE_CPU, stream.get());
    llmrt::gpt::Embedding& layer = cuda ? cuda_layer : cpu_layer;
    std::vector<llmrt_tensor> p = cuda ? params.devices() : params.hosts(), g = cuda ? grads.devices() : grads.hosts();
    llmrt_tensor host_tokens = tokens.host(0), device_tokens = tokens.device(0);
    llmrt_tensor x = cuda ? acts.device(0) : acts.host(0), dx = cuda ? acts.device(1) : acts.host(1);
    // CUDA: forward reads host tokens (checked, then uploaded), the weight pass device tokens.
    layer.forward(ctx, {&host_tokens, 1}, p, {&x, 1}, {});
    layer.backward_input(ctx, {&dx, 1}, {cuda ? &device_tokens : &host_tokens, 1}, p, {}, {}, g);
    layer.backward_weight(ctx, {&dx, 1}, {cuda ? &device_tokens : &host_tokens, 1}, p, {}, g);
  }
  stream.synchronize();
  check_close_bf16(acts.device_values(0), acts.host_values(0), 2, "x", 2.0);
  check_grads(grads, specs, double(B), 2.0);
}

BOOST_AUTO_TEST_CASE(block_odd_shapes_match_cpu) { run_block(2, 37, 96, 4, 31); }

BOOST_AUTO_TEST_CASE(block_at_gpt2_124m_shapes_matches_cpu) { run_block(1, 1024, 768, 12, 32); }

BOOST_AUTO_TEST_CASE(block_tensor_parallel_path_matches_cpu) { run_block(2, 29, 96, 4, 33, /*tp=*/2); }

BOOST_AUTO_TEST_CASE(head_odd_shapes_match_cpu) {
  run_head(2, 37, 96, 101, /*loss_on_device=*/true, 41);
  run_head(3, 11, 40, 67, /*loss_on_device=*/false, 42);
}

BOOST_AUTO_TEST_CASE(head_at_gpt2_vocab_matches_cpu) { run_head(1, 64, 768, 50304, true, 43); }

BOOST_AUTO_TEST_CASE(cuda_refuses_other_dtypes) {
  TestHost host;
  TestConfig keys;
  keys.integer("d_model", 32).integer("heads", 2).integer("n_layer_for_init", 12);
  llmrt_layer_context f16 = bf16_layer_context();
  f16.compute_dtype = LLMRT_DTYPE_F16;
  llmrt::gpt::Block block(ComponentArgs{host.api(), keys.config(), f16});
  BOOST_TEST(block.supports(llmrt_device{LLMRT_DEVICE_CUDA, 0}, LLMRT_DTYPE_F16).find("bf16") != std::string::npos);
  const llmrt_call_ctx ctx = call_ctx(LLMRT_DEVICE_CUDA, nullptr);
  BOOST_CHECK_EXCEPTION(block.forward(ctx, {}, {}, {}, {}), llmrt::PluginError, [](const llmrt::PluginError& e) {
    return std::string(e.what()).find("bf16 only") != std::string::npos;
  });
}

LLMRT_CUDA_TEST_MAIN()
