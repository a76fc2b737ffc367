// The host side of the op table (llmrt_host_api.ops, llmrt/plugin_ops.h): argument checks and
// the dispatch on the call's device to the project's kernels (kernels/cpu; kernels/cuda in builds
// with CUDA). The entries are the same kernels the built-in GPT layers used to call directly.
#pragma once

#include <llmrt/plugin.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace llmrt {

// The table; static, lives for the process.
const llmrt_ops* plugin_ops_table();

namespace host_ops {

// A refused or failed op inside the host: becomes the status the entry returns.
class OpError : public std::runtime_error {
 public:
  OpError(std::int32_t code, const std::string& message) : std::runtime_error(message), code_(code) {}
  std::int32_t code() const { return code_; }

 private:
  std::int32_t code_;
};

const char* dtype_name(std::int32_t dtype);  // "f32", "bf16", ...; "unknown"

// The data ops (host_ops_data.cpp): cast and random on the CPU.
void cast_cpu(const llmrt_cast_args& args);
void random_cpu(const llmrt_random_args& args);
// The value of element `index` of the counter-based stream (seed, index): 4 x 32 random bits.
void philox4x32(std::uint64_t seed, std::uint64_t index, std::uint32_t out[4]);

#if LLMRT_HAVE_CUDA
// The CUDA entries (host_ops_cuda.cpp, unrun here: no GPU in CI); f32, bf16 or f16 activations.
// Each throws OpError(LLMRT_UNIMPLEMENTED) for what kernels/cuda lacks (a dtype, a head size).
namespace cuda {
void gemm(const llmrt_call_ctx& ctx, const llmrt_gemm_args& a);  // dims, lds, strides checked by the entry
// The op table's cuBLASLt contexts alive now (one per GPU and stream that ran a GEMM; each is
// freed when its stream, made by the device, is destroyed). For tests.
std::size_t live_gemm_contexts();
void linear_forward(const llmrt_call_ctx& ctx, const llmrt_linear_args& a);
void linear_backward_input(const llmrt_call_ctx& ctx, const llmrt_linear_args& a);
void linear_backward_weight(const llmrt_call_ctx& ctx, const llmrt_linear_args& a);
void attention_forward(const llmrt_call_ctx& ctx, const llmrt_attention_args& a);
void attention_backward(const llmrt_call_ctx& ctx, const llmrt_attention_args& a);
void layernorm_forward(const llmrt_call_ctx& ctx, const llmrt_norm_args& a);
void layernorm_apply(const llmrt_call_ctx& ctx, const llmrt_norm_args& a);
void layernorm_backward(const llmrt_call_ctx& ctx, const llmrt_norm_args& a);
void rmsnorm_forward(const llmrt_call_ctx& ctx, const llmrt_norm_args& a);
void rmsnorm_backward(const llmrt_call_ctx& ctx, const llmrt_norm_args& a);
void activation_forward(const llmrt_call_ctx& ctx, const llmrt_activation_args& a);
void activation_backward(const llmrt_call_ctx& ctx, const llmrt_activation_args& a);
void softmax_forward(const llmrt_call_ctx& ctx, const llmrt_softmax_args& a);
void softmax_backward(const llmrt_call_ctx& ctx, const llmrt_softmax_args& a);
void elementwise(const llmrt_call_ctx& ctx, const llmrt_elementwise_args& a);
void reduce(const llmrt_call_ctx& ctx, const llmrt_reduce_args& a);
void cast(const llmrt_call_ctx& ctx, const llmrt_cast_args& a);
void random(const llmrt_call_ctx& ctx, const llmrt_random_args& a);
void embedding_forward(const llmrt_call_ctx& ctx, const llmrt_embedding_args& a);
void embedding_backward(const llmrt_call_ctx& ctx, const llmrt_embedding_args& a);
void cross_entropy_forward(const llmrt_call_ctx& ctx, const llmrt_cross_entropy_args& a);
void cross_entropy_backward(const llmrt_call_ctx& ctx, const llmrt_cross_entropy_args& a);
}  // namespace cuda
#endif

}  // namespace host_ops
}  // namespace llmrt
