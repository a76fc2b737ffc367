// The GPT layers' CUDA branch (plugins/gpt/*_cuda.cpp) against the CPU path of the same classes,
// at every storage dtype the CUDA branch takes: f32 (fp32 accumulation-order tolerance), bf16 and
// f16 (the CPU path rounds at the points a GPU stores 16 bits; tolerances in the dtype's
// epsilon). Forward and both backward passes of gpt.embedding, gpt.block and gpt.head, on odd
// shapes and at the benchmark's (C = 768, T = 1024 for one block; V = 50304 for the head; head
// sizes 48, 64, 80, 96, 128), weights and gradients at odd offsets of flat buffers, a
// non-default stream, tensor parallelism's path, and selective recompute against the CPU and
// against none on the GPU. Gradients start non-zero on both sides, so `+=` is checked; outputs that are written
// start as junk, so a missed write shows; the device saved buffer starts as NaN bytes, so a region read before
// it is written (or accumulated into where it should be written) shows. The head and the embedding run with a
// padded vocabulary (Vp > V, random weights in the padded rows), so a padded column that enters the loss shows.
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
void check_grads(const StorageDtype& storage, const TwinTensors& grads, const std::vector<ParamSpec>& specs,
                 double rows, double factor) {
  for (size_t i = 0; i < specs.size(); ++i) {
    check_close_at(storage, grads.device_values(i), grads.host_values(i), rows, "d" + specs[i].name, factor);
  }
}

// The fills above upload on the legacy default stream (a pageable cudaMemcpy may return before its
// DMA lands), which the non-blocking test streams do not wait for: wait here before a CUDA pass.
void device_ready() { LLMRT_CUDA_CHECK(cudaDeviceSynchronize()); }

// The device side of a saved buffer as NaN bytes (0xFF: NaN at f32, bf16 and f16).
void poison(TwinSaved& saved) {
  LLMRT_CUDA_CHECK(cudaMemset(saved.device.get(), 0xFF, saved.device.bytes()));
  device_ready();
}

// A host whose all_reduce sums a group of two ranks holding the same values (2 * send), on the
// host at once or on the device on the call's stream. Both paths all-reduce f32. With it a
// tensor-parallel pass that skips, or repeats, a sum no longer matches the CPU (a group that
// copies would hide both).
llmrt_host_api doubling_host(const llmrt_host_api& base) {
  llmrt_host_api api = base;
  api.all_reduce = [](llmrt_comm*, const void* send, void* recv, size_t count, int32_t dtype, int32_t,
                      llmrt_stream* stream) -> llmrt_status* {
    BOOST_TEST_REQUIRE(dtype == LLMRT_DTYPE_F32, "the GPT layers all-reduce f32");
    cudaPointerAttributes attributes{};
    if (cudaPointerGetAttributes(&attributes, send) == cudaSuccess && attributes.type == cudaMemoryTypeDevice) {
      const cudaStream_t s = reinterpret_cast<cudaStream_t>(stream);
      LLMRT_CUDA_CHECK(cudaMemcpyAsync(recv, send, count * sizeof(float), cudaMemcpyDeviceToDevice, s));
      cu::scale(static_cast<float*>(recv), count, 2.0f, s);
    } else {
      cudaGetLastError();  // clear what the query of a host pointer may have left
      for (size_t i = 0; i < count; ++i) static_cast<float*>(recv)[i] = 2.0f * static_cast<const float*>(send)[i];
    }
    return nullptr;
  };
  return api;
}

struct BlockShape {
  int B, T, C, NH;
  int tp = 1;
  int32_t recompute = LLMRT_RECOMPUTE_NONE;
};

// One gpt.block's three passes on one side (CPU or CUDA), on its tensors.
struct BlockRun {
  TestHost host;
  llmrt_host_api api;  // host's, with a summing all_reduce at tp > 1
  TestConfig keys;
  std::unique_ptr<llmrt::gpt::Block> cpu_layer, cuda_layer;
  std::vector<ParamSpec> specs;
  std::unique_ptr<TwinTensors> params, grads, acts;  // acts: x, y, dy, dx
  std::unique_ptr<TwinSaved> saved;

  BlockRun(const StorageDtype& storage, const BlockShape& shape, unsigned seed) {
    keys.integer("d_model", shape.C).integer("heads", shape.NH).integer("n_layer_for_init", 12);
    const llmrt_layer_context context = layer_context(storage.dtype, shape.tp, shape.recompute);
    api = shape.tp > 1 ? doubling_host(*host.api()) : *host.api();
    cpu_layer = std::make_unique<llmrt::gpt::Block>(ComponentArgs{&api, keys.config(), context});
    cuda_layer = std::make_unique<llmrt::gpt::Block>(ComponentArgs{&api, keys.config(), context});
    specs = cpu_layer->param_specs();
    std::vector<std::vector<int64_t>> shapes = shapes_of(specs);
    if (shape.tp > 1) {
      for (size_t i = 0; i < shapes.size(); ++i) shapes[i] = {cpu_layer->local_numel(i)};
    }
    std::mt19937 rng(seed);
    params = std::make_unique<TwinTensors>(storage.dtype, shapes);
    grads = std::make_unique<TwinTensors>(LLMRT_DTYPE_F32, shapes);
    fill_params(*params, *grads, specs, shapes, rng);
    const int64_t B = shape.B, T = shape.T, C = shape.C;
    const size_t nc = size_t(B * T * C);
    acts = std::make_unique<TwinTensors>(storage.dtype, std::vector<std::vector<int64_t>>(4, {B, T, C}));
    acts->fill(0, random_floats(nc, rng, -1.0f, 1.0f));
    acts->fill(1, random_floats(nc, rng, -5.0f, 5.0f));  // y is written, not added to: start with junk
    acts->fill(2, random_floats(nc, rng, -1.0f, 1.0f));
    acts->fill(3, random_floats(nc, rng, -5.0f, 5.0f));  // dx likewise
    saved = std::make_unique<TwinSaved>(cpu_layer->saved_bytes(B, T));
    poison(*saved);
  }

  void run(bool cuda, cudaStream_t stream) {
    if (cuda) device_ready();
    const llmrt_call_ctx ctx = call_ctx(cuda ? LLMRT_DEVICE_CUDA : LLMRT_DEVICE_CPU, stream);
    llmrt::gpt::Block& layer = cuda ? *cuda_layer : *cpu_layer;
    std::vector<llmrt_tensor> p = cuda ? params->devices() : params->hosts();
    std::vector<llmrt_tensor> g = cuda ? grads->devices() : grads->hosts();
    std::vector<llmrt_tensor> a = cuda ? acts->devices() : acts->hosts();
    const llmrt::Saved s = cuda ? saved->device_span() : saved->host_span();
    layer.forward(ctx, {&a[0], 1}, p, {&a[1], 1}, s);
    layer.backward_input(ctx, {&a[2], 1}, {&a[0], 1}, p, s, {&a[3], 1}, g);
    layer.backward_weight(ctx, {&a[2], 1}, {&a[0], 1}, p, s, g);
  }
};

// At tp > 1 the layers hold one rank's slices (flat, as the ParamStore hands them out) and the
// test host's all_reduce sums two ranks with the same values (doubling_host): the CPU and CUDA
// passes see the same numbers, and the CUDA branch's tensor-parallel path (partials widened to
// f32 where they are 16-bit, all_reduce on the call's stream, the epilogue from f32) runs; a sum
// it skips or makes twice shows.
void run_block(const StorageDtype& storage, const BlockShape& shape, unsigned seed) {
  BOOST_TEST_MESSAGE("gpt.block " << storage.name << " B=" << shape.B << " T=" << shape.T << " C=" << shape.C
                                  << " NH=" << shape.NH << " tp=" << shape.tp << " recompute=" << shape.recompute);
  BlockRun block(storage, shape, seed);
  cu::CudaStream stream;  // non-blocking: nothing here runs on the legacy default stream
  block.run(false, stream.get());
  block.run(true, stream.get());
  stream.synchronize();
  const double C = shape.C;
  check_close_at(storage, block.acts->device_values(1), block.acts->host_values(1), 4 * C, "y", 8.0);
  check_close_at(storage, block.acts->device_values(3), block.acts->host_values(3), 8 * C, "dx", 16.0);
  check_grads(storage, *block.grads, block.specs, double(shape.B) * shape.T, 16.0);
}

// Selective recompute against none, both on the GPU from the same inputs: the same kernels on
// the same values, selective's ln1, ln2 and fc_act in the workspace, remade in backward_weight.
// Not compared bit for bit, for two reasons outside the layer: cuBLASLt may choose another
// algorithm (another summation order) for operands at other alignments (the workspace is
// 256-byte aligned, saved regions 4-byte), and the kernels' fp32 atomics (weight gradients,
// attention's dq) add in any order; and one by design: forward's fc_act is the fused GEMM's
// GELU epilogue of the fp32 pre-activation, the recompute gelu(stored fc_pre). Each difference
// is a rounding of the storage dtype or of fp32 sums, which the tolerance states; a stale or
// wrongly remade tensor is off by O(1).
void selective_matches_none(const StorageDtype& storage, const BlockShape& shape, unsigned seed) {
  BOOST_TEST_MESSAGE("gpt.block selective vs none " << storage.name);
  BlockShape selective_shape = shape;
  selective_shape.recompute = LLMRT_RECOMPUTE_SELECTIVE;
  BlockRun none(storage, shape, seed), selective(storage, selective_shape, seed);
  BOOST_TEST(selective.saved->device.bytes() < none.saved->device.bytes());
  cu::CudaStream stream;
  none.run(true, stream.get());
  selective.run(true, stream.get());
  stream.synchronize();
  const double C = shape.C, rows = double(shape.B) * shape.T;
  check_close_at(storage, selective.acts->device_values(1), none.acts->device_values(1), 4 * C, "selective y", 4.0);
  check_close_at(storage, selective.acts->device_values(3), none.acts->device_values(3), 8 * C, "selective dx", 4.0);
  for (size_t i = 0; i < none.specs.size(); ++i) {
    check_close_at(storage, selective.grads->device_values(i), none.grads->device_values(i), rows,
                   "selective d" + none.specs[i].name, 4.0);
  }
}

void run_head(const StorageDtype& storage, int B, int T, int C, int V, int pad, bool loss_on_device, unsigned seed) {
  BOOST_TEST_MESSAGE("gpt.head " << storage.name << " B=" << B << " T=" << T << " C=" << C << " V=" << V
                                 << " vocab_pad_multiple=" << pad);
  TestHost host;
  TestConfig keys;
  keys.integer("d_model", C).integer("vocab_size", V).boolean("tied_embedding", true).integer("vocab_pad_multiple", pad);
  const llmrt_layer_context context = layer_context(storage.dtype);
  llmrt::gpt::Head cpu_layer(ComponentArgs{host.api(), keys.config(), context});
  llmrt::gpt::Head cuda_layer(ComponentArgs{host.api(), keys.config(), context});
  const std::vector<ParamSpec> specs = cpu_layer.param_specs();
  std::mt19937 rng(seed);
  TwinTensors params(storage.dtype, shapes_of(specs)), grads(LLMRT_DTYPE_F32, shapes_of(specs));
  fill_params(params, grads, specs, rng);
  const size_t n = size_t(B) * T;
  TwinTensors acts(storage.dtype, {{B, T, C}, {B, T, C}});  // x, dx
  acts.fill(0, random_floats(n * C, rng, -1.0f, 1.0f));
  acts.fill(1, random_floats(n * C, rng, -5.0f, 5.0f));
  TwinTensors ids(LLMRT_DTYPE_I32, {{B, T}});
  std::vector<float> targets(n);
  for (float& t : targets) t = float(std::uniform_int_distribution<int>(0, V - 1)(rng));
  ids.fill(0, targets);
  TwinTensors scalars(LLMRT_DTYPE_F32, {{}, {}});  // loss, dloss
  // f16 runs under a loss scale: unscaled, (softmax - onehot) / N at V = 50304 is below f16's
  // normal range on both sides, and the comparison would be of subnormal roundings.
  scalars.fill(1, {storage.dtype == LLMRT_DTYPE_F16 ? 1024.0f : 0.5f});
  TwinSaved saved(cpu_layer.saved_bytes(B, T));
  poison(saved);
  cu::CudaStream stream;  // non-blocking: nothing here runs on the legacy default stream

  float cpu_loss = 0, cuda_loss = 0;
  for (bool cuda : {false, true}) {
    if (cuda) device_ready();
    const llmrt_call_ctx ctx = call_ctx(cuda ? LLMRT_DEVICE_CUDA : LLMRT_DEVICE_CPU, stream.get());
    llmrt::gpt::Head& layer = cuda ? cuda_layer : cpu_layer;
    std::vector<llmrt_tensor> p = cuda ? params.devices() : params.hosts(), g = cuda ? grads.devices() : grads.hosts();
    // On the device: loss and dloss too (no host round trip), or both on the host.
    const bool device_scalars = cuda && loss_on_device;
    std::vector<llmrt_tensor> in = {cuda ? acts.device(0) : acts.host(0), cuda ? ids.device(0) : ids.host(0)};
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
  BOOST_TEST(std::fabs(cuda_loss - cpu_loss) <= (4 * storage.eps + 1e-5) * std::fabs(cpu_loss),
             storage.name << ": " << cuda_loss << " vs " << cpu_loss);
  check_close_at(storage, acts.device_values(1), acts.host_values(1), double(V), "dx", 16.0);
  check_grads(storage, grads, specs, double(n), 16.0);
}

void run_embedding(const StorageDtype& storage) {
  BOOST_TEST_MESSAGE("gpt.embedding " << storage.name);
  const int B = 3, T = 19, C = 37, V = 53, kMaxT = 23;
  TestHost host;
  TestConfig keys;  // wte has 56 rows: the 3 past V must get no gradient
  keys.integer("d_model", C).integer("vocab_size", V).integer("seq_len", kMaxT).integer("vocab_pad_multiple", 8);
  const llmrt_layer_context context = layer_context(storage.dtype);
  llmrt::gpt::Embedding cpu_layer(ComponentArgs{host.api(), keys.config(), context});
  llmrt::gpt::Embedding cuda_layer(ComponentArgs{host.api(), keys.config(), context});
  const std::vector<ParamSpec> specs = cpu_layer.param_specs();
  std::mt19937 rng(21);
  TwinTensors params(storage.dtype, shapes_of(specs)), grads(LLMRT_DTYPE_F32, shapes_of(specs));
  fill_params(params, grads, specs, rng);
  TwinTensors tokens(LLMRT_DTYPE_I32, {{B, T}});
  std::vector<float> ids(size_t(B) * T);
  for (float& t : ids) t = float(std::uniform_int_distribution<int>(0, V - 1)(rng));
  tokens.fill(0, ids);
  TwinTensors acts(storage.dtype, {{B, T, C}, {B, T, C}});  // x, dx
  acts.fill(0, random_floats(size_t(B) * T * C, rng, -5.0f, 5.0f));  // x is written: junk first
  acts.fill(1, random_floats(size_t(B) * T * C, rng, -1.0f, 1.0f));
  cu::CudaStream stream;  // non-blocking: nothing here runs on the legacy default stream

  for (bool cuda : {false, true}) {
    if (cuda) device_ready();
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
  check_close_at(storage, acts.device_values(0), acts.host_values(0), 2, "x", 2.0);
  check_grads(storage, grads, specs, double(B), 2.0);
}

}  // namespace

BOOST_AUTO_TEST_CASE(embedding_forward_and_weight_pass_match_cpu) {
  for (const StorageDtype& storage : kStorageDtypes) run_embedding(storage);
}

BOOST_AUTO_TEST_CASE(block_odd_shapes_match_cpu) {
  for (const StorageDtype& storage : kStorageDtypes) run_block(storage, {2, 37, 96, 4}, 31);  // head size 24
}

BOOST_AUTO_TEST_CASE(block_at_gpt2_124m_shapes_matches_cpu) {
  for (const StorageDtype& storage : kStorageDtypes) run_block(storage, {1, 1024, 768, 12}, 32);
}

// The head sizes the attention kernels specialise (48, 80, 96, 128 beside GPT-2's 64), at an odd T.
BOOST_AUTO_TEST_CASE(block_at_every_head_size_matches_cpu) {
  const BlockShape shapes[] = {{1, 67, 768, 16}, {1, 67, 480, 6}, {1, 67, 768, 8}, {1, 67, 768, 6}};
  for (const StorageDtype& storage : kStorageDtypes) {
    for (const BlockShape& shape : shapes) run_block(storage, shape, 34);
  }
}

BOOST_AUTO_TEST_CASE(block_tensor_parallel_path_matches_cpu) {
  for (const StorageDtype& storage : kStorageDtypes) run_block(storage, {2, 29, 96, 4, /*tp=*/2}, 33);
}

BOOST_AUTO_TEST_CASE(block_selective_recompute_matches_cpu_and_none) {
  for (const StorageDtype& storage : kStorageDtypes) {
    run_block(storage, {2, 37, 96, 4, 1, LLMRT_RECOMPUTE_SELECTIVE}, 35);
    selective_matches_none(storage, {2, 131, 256, 4}, 36);
  }
}

BOOST_AUTO_TEST_CASE(head_odd_shapes_match_cpu) {
  for (const StorageDtype& storage : kStorageDtypes) {
    run_head(storage, 2, 37, 96, 101, /*pad=*/128, /*loss_on_device=*/true, 41);  // Vp 128
    run_head(storage, 3, 11, 40, 67, /*pad=*/8, /*loss_on_device=*/false, 42);    // Vp 72
    run_head(storage, 2, 13, 40, 64, /*pad=*/1, /*loss_on_device=*/true, 44);     // unpadded
  }
}

// GPT-2's 50257 classes padded to 50304 columns, as llm.c runs them.
BOOST_AUTO_TEST_CASE(head_at_gpt2_vocab_matches_cpu) {
  for (const StorageDtype& storage : kStorageDtypes) run_head(storage, 1, 64, 768, 50257, 128, true, 43);
}

// What gpt.block says on CUDA: f32, bf16 and f16, and head sizes the attention kernels take; a
// forward that reaches the CUDA branch anyway is refused with the same reason.
BOOST_AUTO_TEST_CASE(cuda_takes_every_storage_dtype_and_refuses_odd_head_sizes) {
  TestHost host;
  TestConfig keys, small_heads;
  keys.integer("d_model", 64).integer("heads", 2).integer("n_layer_for_init", 12);
  small_heads.integer("d_model", 36).integer("heads", 3).integer("n_layer_for_init", 12);  // head size 12
  for (const StorageDtype& storage : kStorageDtypes) {
    const auto dtype = static_cast<llmrt_dtype>(storage.dtype);
    llmrt::gpt::Block block(ComponentArgs{host.api(), keys.config(), layer_context(storage.dtype)});
    BOOST_TEST(block.supports(llmrt_device{LLMRT_DEVICE_CUDA, 0}, dtype) == "", storage.name);
    llmrt::gpt::Block odd(ComponentArgs{host.api(), small_heads.config(), layer_context(storage.dtype)});
    BOOST_TEST(odd.supports(llmrt_device{LLMRT_DEVICE_CUDA, 0}, dtype).find("multiples of 8") != std::string::npos);
    TwinTensors x(storage.dtype, {{1, 4, 36}});
    llmrt_tensor input = x.device(0);
    const llmrt_call_ctx ctx = call_ctx(LLMRT_DEVICE_CUDA, nullptr);
    BOOST_CHECK_EXCEPTION(odd.forward(ctx, {&input, 1}, {}, {&input, 1}, {}), llmrt::PluginError,
                          [](const llmrt::PluginError& e) { return std::string(e.what()).find("found 12") != std::string::npos; });
  }
}

LLMRT_CUDA_TEST_MAIN()
