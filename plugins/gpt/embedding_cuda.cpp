// gpt.embedding on CUDA at storage type T (f32, bf16 or f16): x = wte[token] + wpe[position];
// the weight pass scatters dx into the fp32 gradients with atomics. Tokens may live on the host
// (checked, then copied into the stream's workspace) or on the device. wte has padded_vocab_
// rows (the head's GEMMs want them); ids stay below vocab_.
#include "gpt/gpt_cuda.h"

namespace llmrt::gpt {

void Embedding::forward_cuda(const llmrt_call_ctx& ctx, In in, In params, Out out) {
  dispatch_dtype(dtype_, "gpt.embedding forward (CUDA)", [&](auto type) {
    forward_cuda_as<typename decltype(type)::type>(ctx, in, params, out);
  });
}

void Embedding::backward_weight_cuda(const llmrt_call_ctx& ctx, In grad_out, In in, Out grad_params) {
  dispatch_dtype(dtype_, "gpt.embedding backward_weight (CUDA)", [&](auto type) {
    backward_weight_cuda_as<typename decltype(type)::type>(ctx, grad_out, in, grad_params);
  });
}

// tokens: (B, T) i32; params wte (Vp, C), wpe (seq_len, C) T; out x: (B, T, C) T
template <typename T>
void Embedding::forward_cuda_as(const llmrt_call_ctx& ctx, In in, In params, Out out) {
  constexpr const char* kWhere = "gpt.embedding forward (CUDA)";
  const BatchShape shape = batch_shape(in[0], 2, "tokens");
  if (shape.seq > max_seq_) throw PluginError("tokens: sequence longer than seq_len");
  check_numel(out[0], shape.rows() * channels_, "x");
  T* x = typed_out<T>(out[0], ctx, "x");
  const T* wte = typed_weight<T>(params[0], padded_vocab_ * channels_, ctx, "wte");
  const T* wpe = typed_weight<T>(params[1], max_seq_ * channels_, ctx, "wpe");
  bind_device(ctx, kWhere);
  cuda_pass(kWhere, [&] {
    const cudaStream_t stream = stream_of(ctx);
    auto scratch = workspace_of(workspace_, ctx, shape).carve(scratch::embedding(shape.rows()), stream);
    const int32_t* tokens =
        device_ids(in[0], shape.rows(), vocab_, reinterpret_cast<int32_t*>(scratch[0]), ctx, "tokens");
    cu::encoder_forward(x, tokens, wte, wpe, int(shape.batch), int(shape.seq), int(channels_), stream);
  });
}

// grad_out: (B, T, C) T; dwte (Vp, C) +=, dwpe (seq_len, C) += in fp32
template <typename T>
void Embedding::backward_weight_cuda_as(const llmrt_call_ctx& ctx, In grad_out, In in, Out grad_params) {
  constexpr const char* kWhere = "gpt.embedding backward_weight (CUDA)";
  const BatchShape shape = batch_shape(in[0], 2, "tokens");
  check_numel(grad_out[0], shape.rows() * channels_, "dx");
  const T* dx = typed_in<T>(grad_out[0], ctx, "dx");
  float* dwte = f32_grad(grad_params[0], padded_vocab_ * channels_, ctx, "dwte");
  float* dwpe = f32_grad(grad_params[1], max_seq_ * channels_, ctx, "dwpe");
  bind_device(ctx, kWhere);
  cuda_pass(kWhere, [&] {
    const cudaStream_t stream = stream_of(ctx);
    auto scratch = workspace_of(workspace_, ctx, shape).carve(scratch::embedding(shape.rows()), stream);
    const int32_t* tokens =
        device_ids(in[0], shape.rows(), vocab_, reinterpret_cast<int32_t*>(scratch[0]), ctx, "tokens");
    cu::encoder_backward(dwte, dwpe, dx, tokens, int(shape.batch), int(shape.seq), int(channels_), stream);
  });
}

}  // namespace llmrt::gpt
