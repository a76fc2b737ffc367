// The op table's CUDA entries: bf16 activations, fp32 statistics and parameter gradients, queued
// on the call's stream (ctx.stream is a cudaStream_t), through kernels/cuda. UNRUN in this
// project's CI (no GPU): it compiles with every CUDA build and is kept to direct kernel calls.
// What kernels/cuda lacks (f32 activations, GEMM, RMSNorm, softmax, SiLU, products,
// reductions, random) is refused with LLMRT_UNIMPLEMENTED naming the op.
#include "ops/host_ops.h"

#include <map>
#include <mutex>
#include <string>

#include "cuda/kernels_cuda.h"

namespace llmrt::host_ops::cuda {
namespace {
namespace cu = kernels::cuda;
using cu::bf16;

[[noreturn]] void unimplemented(const char* op, const std::string& what) {
  throw OpError(LLMRT_UNIMPLEMENTED, std::string("ops.") + op + ": device cuda: " + what);
}
void require_bf16(const char* op, std::int32_t dtype) {
  if (dtype != LLMRT_DTYPE_BF16) {
    unimplemented(op, std::string("dtype ") + dtype_name(dtype) + ": the CUDA kernels are bf16 (fp32 accumulation)");
  }
}
cudaStream_t stream_of(const llmrt_call_ctx& ctx) { return reinterpret_cast<cudaStream_t>(ctx.stream); }
void bind(const llmrt_call_ctx& ctx) {
  int current = -1;
  if (cudaGetDevice(&current) == cudaSuccess && current == ctx.device.index) return;
  LLMRT_CUDA_CHECK(cudaSetDevice(ctx.device.index));
}
// One cuBLASLt context per GPU for the op table's GEMMs (never freed: the driver may be gone
// at exit). Calls of one rank are ordered on one stream per stage, as the GPT layers' are.
cu::GemmContext& gemm_context(int device) {
  static std::mutex mutex;
  static auto* contexts = new std::map<int, cu::GemmContext*>();
  std::lock_guard lock(mutex);
  cu::GemmContext*& context = (*contexts)[device];
  if (context == nullptr) context = new cu::GemmContext();
  return *context;
}
const bf16* h(const void* p) { return static_cast<const bf16*>(p); }
bf16* h(void* p) { return static_cast<bf16*>(p); }
}  // namespace

void linear_forward(const llmrt_call_ctx& ctx, const llmrt_linear_args& a) {
  require_bf16("linear_forward", a.dtype);
  bind(ctx);
  cu::matmul_forward(h(a.out), h(a.in), h(a.weight), h(a.bias), int(a.rows), int(a.in_features), int(a.out_features),
                     gemm_context(ctx.device.index), stream_of(ctx));
}
void linear_backward_input(const llmrt_call_ctx& ctx, const llmrt_linear_args& a) {
  require_bf16("linear_backward_input", a.dtype);
  bind(ctx);
  cu::matmul_backward_input(h(a.d_in), h(a.d_out), h(a.weight), int(a.rows), int(a.in_features), int(a.out_features),
                            gemm_context(ctx.device.index), stream_of(ctx));
}
void linear_backward_weight(const llmrt_call_ctx& ctx, const llmrt_linear_args& a) {
  require_bf16("linear_backward_weight", a.dtype);
  bind(ctx);
  cu::matmul_backward_weight(a.d_weight, a.d_bias, h(a.d_out), h(a.in), int(a.rows), int(a.in_features),
                             int(a.out_features), gemm_context(ctx.device.index), stream_of(ctx));
}

void attention_forward(const llmrt_call_ctx& ctx, const llmrt_attention_args& a) {
  require_bf16("attention_forward", a.dtype);
  if (a.channels / a.heads > cu::kMaxAttentionHeadSize) unimplemented("attention_forward", "head size above 128");
  bind(ctx);
  cu::attention_forward(h(a.out), a.lse, h(a.qkv), int(a.batch), int(a.seq), int(a.channels), int(a.heads),
                        stream_of(ctx));
}
void attention_backward(const llmrt_call_ctx& ctx, const llmrt_attention_args& a) {
  require_bf16("attention_backward", a.dtype);
  if (a.channels / a.heads > cu::kMaxAttentionHeadSize) unimplemented("attention_backward", "head size above 128");
  bind(ctx);
  cu::attention_backward(h(a.d_qkv), h(a.d_out), h(a.qkv), h(a.out), a.lse, int(a.batch), int(a.seq), int(a.channels),
                         int(a.heads), stream_of(ctx));
}

void layernorm_forward(const llmrt_call_ctx& ctx, const llmrt_norm_args& a) {
  require_bf16("layernorm_forward", a.dtype);
  bind(ctx);
  cu::layernorm_forward(h(a.out), a.mean, a.rstd, h(a.in), h(a.weight), h(a.bias), int(a.rows), int(a.channels),
                        stream_of(ctx));
}
void layernorm_backward(const llmrt_call_ctx& ctx, const llmrt_norm_args& a) {
  require_bf16("layernorm_backward", a.dtype);
  bind(ctx);
  cu::layernorm_backward(h(a.d_in), a.d_weight, a.d_bias, h(a.d_out), h(a.in), h(a.weight), a.mean, a.rstd,
                         int(a.rows), int(a.channels), stream_of(ctx));
}

void activation_forward(const llmrt_call_ctx& ctx, const llmrt_activation_args& a) {
  require_bf16("activation_forward", a.dtype);
  if (a.kind != LLMRT_ACT_GELU) unimplemented("activation_forward", "SiLU has no CUDA kernel yet");
  bind(ctx);
  cu::gelu_forward(h(a.out), h(a.in), size_t(a.count), stream_of(ctx));
}
void activation_backward(const llmrt_call_ctx& ctx, const llmrt_activation_args& a) {
  require_bf16("activation_backward", a.dtype);
  if (a.kind != LLMRT_ACT_GELU) unimplemented("activation_backward", "SiLU has no CUDA kernel yet");
  bind(ctx);
  cu::gelu_backward(h(a.d_in), h(a.in), h(a.d_out), size_t(a.count), stream_of(ctx));
}

void elementwise(const llmrt_call_ctx& ctx, const llmrt_elementwise_args& a) {
  require_bf16("elementwise", a.dtype);
  bind(ctx);
  if (a.kind == LLMRT_EW_ADD) return cu::residual_forward(h(a.out), h(a.a), h(a.b), size_t(a.count), stream_of(ctx));
  if (a.kind == LLMRT_EW_ACCUMULATE) return cu::residual_accumulate(h(a.out), h(a.a), size_t(a.count), stream_of(ctx));
  unimplemented("elementwise", "kind " + std::to_string(a.kind) + " has no CUDA kernel yet (ADD and ACCUMULATE have)");
}

void cast(const llmrt_call_ctx& ctx, const llmrt_cast_args& a) {
  bind(ctx);
  const size_t n = size_t(a.count);
  const cudaStream_t s = stream_of(ctx);
  using F = float;
  const std::int32_t from = a.src_dtype, to = a.dst_dtype;
  if (from == to) {
    LLMRT_CUDA_CHECK(cudaMemcpyAsync(a.out, a.in, n * (from == LLMRT_DTYPE_F32 ? 4 : 2), cudaMemcpyDeviceToDevice, s));
  } else if (from == LLMRT_DTYPE_BF16 && to == LLMRT_DTYPE_F32) {
    cu::bf16_to_float(static_cast<F*>(a.out), h(a.in), n, s);
  } else if (from == LLMRT_DTYPE_F32 && to == LLMRT_DTYPE_BF16) {
    cu::float_to_bf16(h(a.out), static_cast<const F*>(a.in), n, s);
  } else if (from == LLMRT_DTYPE_F16 && to == LLMRT_DTYPE_F32) {
    cu::f16_to_float(static_cast<F*>(a.out), static_cast<const cu::f16*>(a.in), n, s);
  } else if (from == LLMRT_DTYPE_F32 && to == LLMRT_DTYPE_F16) {
    cu::float_to_f16(static_cast<cu::f16*>(a.out), static_cast<const F*>(a.in), n, s);
  } else if (from == LLMRT_DTYPE_BF16) {
    cu::bf16_to_f16(static_cast<cu::f16*>(a.out), h(a.in), n, s);
  } else {
    cu::f16_to_bf16(h(a.out), static_cast<const cu::f16*>(a.in), n, s);
  }
}

void embedding_forward(const llmrt_call_ctx& ctx, const llmrt_embedding_args& a) {
  require_bf16("embedding_forward", a.dtype);
  if (a.positions == nullptr) unimplemented("embedding_forward", "an embedding without positions has no CUDA kernel yet");
  bind(ctx);
  cu::encoder_forward(h(a.out), a.tokens, h(a.table), h(a.positions), int(a.batch), int(a.seq), int(a.channels),
                      stream_of(ctx));
}
void embedding_backward(const llmrt_call_ctx& ctx, const llmrt_embedding_args& a) {
  require_bf16("embedding_backward", a.dtype);
  if (a.d_positions == nullptr) unimplemented("embedding_backward", "an embedding without positions has no CUDA kernel yet");
  bind(ctx);
  cu::encoder_backward(a.d_table, a.d_positions, h(a.d_out), a.tokens, int(a.batch), int(a.seq), int(a.channels),
                       stream_of(ctx));
}

// The mean loss stays on the device (a host mean would stall the stream): mean_loss must be NULL.
void cross_entropy_forward(const llmrt_call_ctx& ctx, const llmrt_cross_entropy_args& a) {
  if (a.mean_loss != nullptr) unimplemented("cross_entropy_forward", "mean_loss must be NULL (average losses on device)");
  bind(ctx);
  if (a.dtype == LLMRT_DTYPE_F32) {
    return cu::crossentropy_forward(a.losses, a.lse, static_cast<const float*>(a.logits), a.targets, int(a.rows),
                                    int(a.vocab), stream_of(ctx));
  }
  require_bf16("cross_entropy_forward", a.dtype);
  cu::crossentropy_forward(a.losses, a.lse, h(a.logits), a.targets, int(a.rows), int(a.vocab), stream_of(ctx));
}
void cross_entropy_backward(const llmrt_call_ctx& ctx, const llmrt_cross_entropy_args& a) {
  bind(ctx);
  if (a.dtype == LLMRT_DTYPE_F32) {
    return cu::crossentropy_backward(static_cast<float*>(a.d_logits), static_cast<const float*>(a.logits), a.lse,
                                     a.targets, a.d_loss, int(a.rows), int(a.vocab), stream_of(ctx));
  }
  require_bf16("cross_entropy_backward", a.dtype);
  cu::crossentropy_backward(h(a.d_logits), h(a.logits), a.lse, a.targets, a.d_loss, int(a.rows), int(a.vocab),
                            stream_of(ctx));
}

}  // namespace llmrt::host_ops::cuda
