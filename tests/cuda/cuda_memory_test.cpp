// The GPU memory lifecycle that cannot deadlock against NCCL (docs/executor.md, "Streams and
// events"): CudaDevice's frees wait for the safe point (the block stays mapped and counted until
// release_deferred_frees, and is gone after); the op table's cuBLASLt contexts go with the
// device's stream; the GPT layers' per-stream workspace is sized once from the live layers'
// hints, grows in stream order, and gives each stream (even one at a reused handle) its own.
#define BOOST_TEST_MODULE cuda_memory
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstdint>
#include <memory>

#include "cuda/cuda_plugin_test_util.h"
#include "device/buffer.h"
#include "device/cuda_device.h"
#include "gpt/gpt_cuda.h"
#include "gpt/gpt_layers.h"
#include "gpt/gpt_scratch.h"
#include "ops/host_ops.h"

using namespace llmrt::kernels::cuda_test;
using llmrt::ComponentArgs;

namespace {

llmrt::ComputeDevice& device0() {
  llmrt::ComputeDevice* device = llmrt::cuda_device(0);
  BOOST_TEST_REQUIRE(device != nullptr);
  return *device;
}

// Whether the driver still maps `pointer` as device memory (a freed block is not).
bool mapped_on_device(const void* pointer) {
  cudaPointerAttributes attributes{};
  const cudaError_t err = cudaPointerGetAttributes(&attributes, pointer);
  if (err != cudaSuccess) {
    cudaGetLastError();  // a released pointer may be reported as an invalid value
    return false;
  }
  return attributes.type == cudaMemoryTypeDevice;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_freed_block_stays_until_the_safe_point) {
  llmrt::ComputeDevice& device = device0();
  BOOST_TEST_REQUIRE(device.release_deferred_frees().ok());  // start from an empty list
  const llmrt::DeviceMemoryCounts before = device.memory_counts();
  constexpr std::size_t kBytes = std::size_t(64) << 20;
  auto block = device.allocate(kBytes);
  BOOST_TEST_REQUIRE(block.ok());
  void* pointer = *block;
  BOOST_TEST(device.memory_counts().held_bytes == before.held_bytes + kBytes);

  device.free(pointer);
  llmrt::DeviceMemoryCounts counts = device.memory_counts();
  BOOST_TEST(counts.pending_blocks == 1u);
  BOOST_TEST(counts.pending_bytes == kBytes);
  BOOST_TEST(counts.held_bytes == before.held_bytes + kBytes);  // still held: memory figures stay right
  BOOST_TEST(counts.deferred_total == before.deferred_total + 1);
  BOOST_TEST(mapped_on_device(pointer));  // not given back to the driver yet
  BOOST_TEST_REQUIRE(cudaMemset(pointer, 0, kBytes) == cudaSuccess);  // and still usable by queued work
  BOOST_TEST_REQUIRE(cudaDeviceSynchronize() == cudaSuccess);

  BOOST_TEST_REQUIRE(device.release_deferred_frees().ok());  // the safe point
  counts = device.memory_counts();
  BOOST_TEST(counts.pending_blocks == 0u);
  BOOST_TEST(counts.held_bytes == before.held_bytes);
  BOOST_TEST(counts.released_total == before.released_total + 1);
  BOOST_TEST(!mapped_on_device(pointer));
}

// Buffer::resize that grows mid-step and a dropped Buffer both leave their blocks to the safe point.
BOOST_AUTO_TEST_CASE(a_buffer_that_grows_on_the_gpu_defers_its_old_block) {
  llmrt::ComputeDevice& device = device0();
  BOOST_TEST_REQUIRE(device.release_deferred_frees().ok());
  auto buffer = llmrt::Buffer::allocate(device, LLMRT_DTYPE_F32, 1000);
  BOOST_TEST_REQUIRE(buffer.ok());
  void* old = buffer->data();
  BOOST_TEST_REQUIRE(buffer->resize(device, LLMRT_DTYPE_F32, 1 << 20).ok());
  BOOST_TEST(device.memory_counts().pending_blocks == 1u);
  BOOST_TEST(mapped_on_device(old));
  *buffer = llmrt::Buffer();
  BOOST_TEST(device.memory_counts().pending_blocks == 2u);
  BOOST_TEST_REQUIRE(device.release_deferred_frees().ok());
  BOOST_TEST(device.memory_counts().pending_blocks == 0u);
  BOOST_TEST(!mapped_on_device(old));
}

// The op table's cuBLASLt context (32 MiB) of a stream is made by its first GEMM and destroyed
// with the stream, so a handle the driver reuses never finds the old one's.
BOOST_AUTO_TEST_CASE(op_table_contexts_are_destroyed_with_their_stream) {
  llmrt::ComputeDevice& device = device0();
  namespace ops = llmrt::host_ops::cuda;
  const std::size_t before = ops::live_gemm_contexts();
  constexpr int kRows = 8, kIn = 16, kOut = 24;
  DeviceBuffer<float> in(kRows * kIn), weight(kOut * kIn), out(kRows * kOut);
  BOOST_TEST_REQUIRE(cudaMemset(in.get(), 0, kRows * kIn * sizeof(float)) == cudaSuccess);
  BOOST_TEST_REQUIRE(cudaMemset(weight.get(), 0, kOut * kIn * sizeof(float)) == cudaSuccess);
  BOOST_TEST_REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  {
    auto stream = device.create_stream();
    BOOST_TEST_REQUIRE(stream.ok());
    llmrt_call_ctx ctx = call_ctx(LLMRT_DEVICE_CUDA, reinterpret_cast<cudaStream_t>((*stream)->plugin_handle()));
    llmrt_linear_args args{};
    args.struct_size = sizeof(args);
    args.dtype = LLMRT_DTYPE_F32;
    args.rows = kRows, args.in_features = kIn, args.out_features = kOut;
    args.in = in.get(), args.weight = weight.get(), args.out = out.get();
    ops::linear_forward(ctx, args);
    ops::linear_forward(ctx, args);  // the same stream: the same context
    BOOST_TEST(ops::live_gemm_contexts() == before + 1);
    BOOST_TEST_REQUIRE(device.synchronize(stream->get()).ok());
  }  // the stream is destroyed here
  BOOST_TEST(ops::live_gemm_contexts() == before);
}

// The GPT layers' workspace of a stream: reserved at its first carve to the largest hint of the
// live layers (the head's logits here, though the block carves first), so the passes of a step
// never replace it; a carve beyond it grows in stream order; another stream gets its own.
BOOST_AUTO_TEST_CASE(gpt_workspace_is_sized_once_from_the_live_layers) {
  namespace gpt = llmrt::gpt;
  TestHost host;
  const int B = 2, T = 16, C = 32, V = 1000;
  TestConfig block_keys, head_keys;
  block_keys.integer("d_model", C).integer("heads", 4).integer("n_layer_for_init", 12);
  head_keys.integer("d_model", C).integer("vocab_size", V).boolean("tied_embedding", true);
  head_keys.integer("vocab_pad_multiple", 64);
  const llmrt_layer_context context = layer_context(LLMRT_DTYPE_BF16);
  gpt::Block block(ComponentArgs{host.api(), block_keys.config(), context});
  gpt::Head head(ComponentArgs{host.api(), head_keys.config(), context});
  const double block_hint = block.cost_hints(B, T).workspace_bytes;
  const double head_hint = head.cost_hints(B, T).workspace_bytes;
  BOOST_TEST_REQUIRE(head_hint > block_hint);  // the case that used to grow in step 1
  BOOST_TEST(double(gpt::scratch::largest_live_workspace(B, T)) >= head_hint);

  cu::CudaStream stream, other;
  const llmrt_call_ctx ctx = call_ctx(LLMRT_DEVICE_CUDA, stream.get());
  std::shared_ptr<gpt::CudaWorkspace> slot, other_slot;
  gpt::CudaWorkspace& workspace = gpt::workspace_of(slot, ctx, gpt::BatchShape{B, T});
  BOOST_TEST(double(workspace.capacity()) >= head_hint);
  BOOST_TEST(workspace.grows() == 0u);
  const auto regions = workspace.carve({std::size_t(block_hint)}, stream.get());
  BOOST_TEST(reinterpret_cast<std::uintptr_t>(regions[0]) % gpt::scratch::kAlign == 0u);
  BOOST_TEST(workspace.grows() == 0u);
  BOOST_TEST_REQUIRE(cudaMemsetAsync(regions[0], 0, std::size_t(block_hint), stream.get()) == cudaSuccess);
  const auto bigger = workspace.carve({workspace.capacity() + 1}, stream.get());  // replaced in stream order
  BOOST_TEST(workspace.grows() == 1u);
  BOOST_TEST(reinterpret_cast<std::uintptr_t>(bigger[0]) % gpt::scratch::kAlign == 0u);
  BOOST_TEST_REQUIRE(cudaMemsetAsync(bigger[0], 0, workspace.capacity(), stream.get()) == cudaSuccess);
  stream.synchronize();

  // The same stream shares, another stream does not; each stream has one GEMM context.
  std::shared_ptr<gpt::CudaWorkspace> again;
  BOOST_TEST(&gpt::stream_resources(again, ctx) == &workspace);
  BOOST_TEST(&gpt::gemm_context(again, ctx) == &workspace.gemm());
  const llmrt_call_ctx other_ctx = call_ctx(LLMRT_DEVICE_CUDA, other.get());
  gpt::CudaWorkspace& theirs = gpt::workspace_of(other_slot, other_ctx, gpt::BatchShape{B, T});
  BOOST_TEST(&theirs != &workspace);
  BOOST_TEST(&theirs.gemm() != &workspace.gemm());
}

LLMRT_CUDA_TEST_MAIN()
