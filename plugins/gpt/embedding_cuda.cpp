// gpt.embedding on CUDA (bf16): x = wte[token] + wpe[position]; the weight pass scatters dx into
// the fp32 gradients with atomics. Tokens may live on the host (checked, then copied into the
// instance's workspace) or on the device.
#include "gpt/gpt_cuda.h"

namespace llmrt::gpt {

// tokens: (B, T) i32; params wte (V, C), wpe (seq_len, C) bf16; out x: (B, T, C) bf16
void Embedding::forward_cuda(const llmrt_call_ctx& ctx, In in, In params, Out out) {
  constexpr const char* kWhere = "gpt.embedding forward (CUDA)";
  require_bf16(dtype_, kWhere);
  const BatchShape shape = batch_shape(in[0], 2, "tokens");
  if (shape.seq > max_seq_) throw PluginError("tokens: sequence longer than seq_len");
  check_numel(out[0], shape.rows() * channels_, "x");
  bind_device(ctx, kWhere);
  cuda_pass(kWhere, [&] {
    const cudaStream_t stream = stream_of(ctx);
    auto scratch = workspace_of(workspace_, ctx).carve({size_t(shape.rows()) * sizeof(int32_t)}, stream);
    const int32_t* tokens =
        device_ids(in[0], shape.rows(), vocab_, reinterpret_cast<int32_t*>(scratch[0]), ctx, "tokens");
    cu::encoder_forward(bf16_out(out[0], ctx, "x"), tokens, bf16_weight(params[0], vocab_ * channels_, ctx, "wte"),
                        bf16_weight(params[1], max_seq_ * channels_, ctx, "wpe"), int(shape.batch), int(shape.seq),
                        int(channels_), stream);
  });
}

// grad_out: (B, T, C) bf16; dwte (V, C) +=, dwpe (seq_len, C) += in fp32
void Embedding::backward_weight_cuda(const llmrt_call_ctx& ctx, In grad_out, In in, Out grad_params) {
  constexpr const char* kWhere = "gpt.embedding backward_weight (CUDA)";
  require_bf16(dtype_, kWhere);
  const BatchShape shape = batch_shape(in[0], 2, "tokens");
  check_numel(grad_out[0], shape.rows() * channels_, "dx");
  bind_device(ctx, kWhere);
  cuda_pass(kWhere, [&] {
    const cudaStream_t stream = stream_of(ctx);
    auto scratch = workspace_of(workspace_, ctx).carve({size_t(shape.rows()) * sizeof(int32_t)}, stream);
    const int32_t* tokens =
        device_ids(in[0], shape.rows(), vocab_, reinterpret_cast<int32_t*>(scratch[0]), ctx, "tokens");
    cu::encoder_backward(f32_grad(grad_params[0], vocab_ * channels_, ctx, "dwte"),
                         f32_grad(grad_params[1], max_seq_ * channels_, ctx, "dwpe"), bf16_in(grad_out[0], ctx, "dx"),
                         tokens, int(shape.batch), int(shape.seq), int(channels_), stream);
  });
}

}  // namespace llmrt::gpt
