// gpt.head on CUDA (bf16 storage, fp32 accumulation): final LayerNorm, logits into the instance's
// device workspace (the (N, V) logits are never saved: backward recomputes them, as on the CPU),
// fused cross-entropy. The loss and its gradient are fp32 scalars, on the device or the host.
#include "gpt/gpt_cuda.h"

namespace llmrt::gpt {

namespace {
// An fp32 scalar's device address, or nullptr when it lives on the host.
float* device_scalar(const llmrt_tensor& tensor, const llmrt_call_ctx& ctx, std::string_view what) {
  if (numel(tensor) != 1) throw PluginError(std::string(what) + ": expected a scalar");
  if (tensor.device.type != LLMRT_DEVICE_CUDA) return nullptr;
  return static_cast<float*>(device_data(tensor, LLMRT_DTYPE_F32, ctx, what));
}
}  // namespace

// x: (B, T, C) bf16, targets: (B, T) i32 -> loss: () f32, the mean over B*T rows.
void Head::forward_cuda(const llmrt_call_ctx& ctx, In in, In params, Out out, Saved saved) {
  constexpr const char* kWhere = "gpt.head forward (CUDA)";
  require_bf16(dtype_, kWhere);
  const BatchShape shape = batch_shape(in[0], 3, "x");
  const int n = int(shape.rows()), c = int(channels_), v = int(vocab_);
  DeviceRegions<bf16> regions(saved.data());
  const auto s = head_layout(regions, n, c);
  check_saved(saved, regions.bytes(), "gpt.head");
  check_numel(in[0], int64_t(n) * c, "x");
  const bf16* x = bf16_in(in[0], ctx, "x");
  const bf16* lnf_w = bf16_weight(params[0], c, ctx, "lnf_w");
  const bf16* lnf_b = bf16_weight(params[1], c, ctx, "lnf_b");
  const bf16* weight = bf16_weight(params[2], vocab_ * channels_, ctx, tied_ ? "wte" : "lm_head_w");
  float* loss_on_device = device_scalar(out[0], ctx, "loss");
  float* loss_on_host = loss_on_device == nullptr ? cpu_data<float>(out[0], "loss") : nullptr;
  bind_device(ctx, kWhere);

  cuda_pass(kWhere, [&] {
    const cudaStream_t stream = stream_of(ctx);
    auto scratch = workspace_of(workspace_, ctx).carve(
        {size_t(n) * v * sizeof(bf16), size_t(n) * sizeof(float), size_t(n) * sizeof(int32_t), sizeof(float)},
        stream);
    bf16* logits = reinterpret_cast<bf16*>(scratch[0]);   // (N, V)
    float* losses = reinterpret_cast<float*>(scratch[1]);  // (N)
    const int32_t* targets = device_ids(in[1], n, vocab_, reinterpret_cast<int32_t*>(scratch[2]), ctx, "targets");
    float* loss = loss_on_device != nullptr ? loss_on_device : reinterpret_cast<float*>(scratch[3]);

    cu::layernorm_forward(s.lnf, s.mean, s.rstd, x, lnf_w, lnf_b, n, c, stream);
    cu::matmul_forward(logits, s.lnf, weight, nullptr, n, c, v, gemm_context(ctx.device.index), stream);
    cu::crossentropy_forward(losses, s.lse, logits, targets, n, v, stream);
    cu::mean(loss, losses, n, stream);
    if (loss_on_host != nullptr) {  // the host asked for the value now: wait for it
      LLMRT_CUDA_CHECK(cudaMemcpyAsync(loss_on_host, loss, sizeof(float), cudaMemcpyDeviceToHost, stream));
      LLMRT_CUDA_CHECK(cudaStreamSynchronize(stream));
    }
  });
}

// grad_out: dloss () f32 -> dx (B, T, C) bf16 written; dlnf_w, dlnf_b (C) and dW (V, C) fp32
// accumulated. A dloss on the device is read back first (one wait per microbatch): the
// cross-entropy kernel takes it by value.
void Head::backward_cuda(const llmrt_call_ctx& ctx, In grad_out, In in, In params, Saved saved, Out grad_in,
                         Out grad_params) {
  constexpr const char* kWhere = "gpt.head backward (CUDA)";
  require_bf16(dtype_, kWhere);
  const BatchShape shape = batch_shape(in[0], 3, "x");
  const int n = int(shape.rows()), c = int(channels_), v = int(vocab_);
  DeviceRegions<bf16> regions(saved.data());
  const auto s = head_layout(regions, n, c);
  check_saved(saved, regions.bytes(), "gpt.head");
  check_numel(in[0], int64_t(n) * c, "x");
  check_numel(grad_in[0], int64_t(n) * c, "dx");
  const bf16* x = bf16_in(in[0], ctx, "x");
  bf16* dx = bf16_out(grad_in[0], ctx, "dx");
  const bf16* lnf_w = bf16_weight(params[0], c, ctx, "lnf_w");
  const bf16* weight = bf16_weight(params[2], vocab_ * channels_, ctx, tied_ ? "wte" : "lm_head_w");
  float* dlnf_w = f32_grad(grad_params[0], c, ctx, "dlnf_w");
  float* dlnf_b = f32_grad(grad_params[1], c, ctx, "dlnf_b");
  float* dweight = f32_grad(grad_params[2], vocab_ * channels_, ctx, tied_ ? "dwte" : "dlm_head_w");
  const float* dloss_on_device = device_scalar(grad_out[0], ctx, "dloss");
  bind_device(ctx, kWhere);

  cuda_pass(kWhere, [&] {
    const cudaStream_t stream = stream_of(ctx);
    float dloss = 0;
    if (dloss_on_device != nullptr) {
      LLMRT_CUDA_CHECK(cudaMemcpyAsync(&dloss, dloss_on_device, sizeof(float), cudaMemcpyDeviceToHost, stream));
      LLMRT_CUDA_CHECK(cudaStreamSynchronize(stream));
    } else {
      dloss = *cpu_data<float>(grad_out[0], "dloss");
    }
    auto scratch = workspace_of(workspace_, ctx).carve(
        {size_t(n) * v * sizeof(bf16), size_t(n) * c * sizeof(bf16), size_t(n) * sizeof(int32_t)}, stream);
    bf16* logits = reinterpret_cast<bf16*>(scratch[0]);  // (N, V) logits, then dlogits in place
    bf16* d_lnf = reinterpret_cast<bf16*>(scratch[1]);   // (N, C)
    const int32_t* targets = device_ids(in[1], n, vocab_, reinterpret_cast<int32_t*>(scratch[2]), ctx, "targets");
    cu::GemmContext& gemm = gemm_context(ctx.device.index);

    cu::matmul_forward(logits, s.lnf, weight, nullptr, n, c, v, gemm, stream);
    cu::crossentropy_backward(logits, logits, s.lse, targets, dloss, n, v, stream);
    LLMRT_CUDA_CHECK(cudaMemsetAsync(d_lnf, 0, size_t(n) * c * sizeof(bf16), stream));
    cu::matmul_backward(d_lnf, dweight, nullptr, logits, s.lnf, weight, n, c, v, gemm, stream);
    LLMRT_CUDA_CHECK(cudaMemsetAsync(dx, 0, size_t(n) * c * sizeof(bf16), stream));
    cu::layernorm_backward(dx, dlnf_w, dlnf_b, d_lnf, x, lnf_w, s.mean, s.rstd, n, c, stream);
  });
}

}  // namespace llmrt::gpt
