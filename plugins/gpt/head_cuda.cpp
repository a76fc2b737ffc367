// gpt.head on CUDA at storage type T (f32, bf16 or f16; fp32 accumulation): final LayerNorm,
// logits into the stream's device workspace (the (N, Vp) logits are never saved: backward
// recomputes them, as on the CPU), fused cross-entropy over the first V of Vp columns (the
// projection has Vp = padded_vocab_ rows for the GEMMs; ids and the loss see V = vocab_). The
// loss and its gradient are fp32 scalars, on the device or the host; only a loss the host asked
// for on the host makes the stream wait.
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

void Head::forward_cuda(const llmrt_call_ctx& ctx, In in, In params, Out out, Saved saved) {
  dispatch_dtype(dtype_, "gpt.head forward (CUDA)", [&](auto type) {
    forward_cuda_as<typename decltype(type)::type>(ctx, in, params, out, saved);
  });
}

void Head::backward_cuda(const llmrt_call_ctx& ctx, In grad_out, In in, In params, Saved saved, Out grad_in,
                         Out grad_params) {
  dispatch_dtype(dtype_, "gpt.head backward (CUDA)", [&](auto type) {
    backward_cuda_as<typename decltype(type)::type>(ctx, grad_out, in, params, saved, grad_in, grad_params);
  });
}

// x: (B, T, C) T, targets: (B, T) i32 in [0, V) -> loss: () f32, the mean over B*T rows.
template <typename T>
void Head::forward_cuda_as(const llmrt_call_ctx& ctx, In in, In params, Out out, Saved saved) {
  constexpr const char* kWhere = "gpt.head forward (CUDA)";
  const BatchShape shape = batch_shape(in[0], 3, "x");
  const int n = int(shape.rows()), c = int(channels_), v = int(vocab_), vp = int(padded_vocab_);
  DeviceRegions<T> regions(saved.data());
  const auto s = head_layout(regions, n, c);
  check_saved(saved, regions.bytes(), "gpt.head");
  check_numel(in[0], int64_t(n) * c, "x");
  const T* x = typed_in<T>(in[0], ctx, "x");
  const T* lnf_w = typed_weight<T>(params[0], c, ctx, "lnf_w");
  const T* lnf_b = typed_weight<T>(params[1], c, ctx, "lnf_b");
  const T* weight = typed_weight<T>(params[2], padded_vocab_ * channels_, ctx, tied_ ? "wte" : "lm_head_w");
  float* loss_on_device = device_scalar(out[0], ctx, "loss");
  float* loss_on_host = loss_on_device == nullptr ? cpu_data<float>(out[0], "loss") : nullptr;
  bind_device(ctx, kWhere);

  cuda_pass(kWhere, [&] {
    const cudaStream_t stream = stream_of(ctx);
    auto scratch = workspace_of(workspace_, ctx, shape).carve(scratch::head_forward(dtype_, n, padded_vocab_), stream);
    T* logits = reinterpret_cast<T*>(scratch[0]);          // (N, Vp)
    float* losses = reinterpret_cast<float*>(scratch[1]);  // (N)
    const int32_t* targets = device_ids(in[1], n, vocab_, reinterpret_cast<int32_t*>(scratch[2]), ctx, "targets");
    float* loss = loss_on_device != nullptr ? loss_on_device : reinterpret_cast<float*>(scratch[3]);

    cu::layernorm_forward(s.lnf, s.mean, s.rstd, x, lnf_w, lnf_b, n, c, stream);
    cu::matmul_forward(logits, s.lnf, weight, static_cast<const T*>(nullptr), n, c, vp, gemm_context(workspace_, ctx),
                       stream);
    cu::crossentropy_forward(losses, s.lse, logits, targets, n, v, vp, stream);
    cu::mean(loss, losses, n, stream);
    if (loss_on_host != nullptr) {  // the host asked for the value now: wait for it
      LLMRT_CUDA_CHECK(cudaMemcpyAsync(loss_on_host, loss, sizeof(float), cudaMemcpyDeviceToHost, stream));
      LLMRT_CUDA_CHECK(cudaStreamSynchronize(stream));
    }
  });
}

// grad_out: dloss () f32 on the device or the host -> dx (B, T, C) T written; dlnf_w, dlnf_b (C)
// and dW (Vp, C) fp32 accumulated (the padded rows get 0: their logits' gradient is 0). A dloss
// on the device is read there by the cross-entropy kernel: no wait.
template <typename T>
void Head::backward_cuda_as(const llmrt_call_ctx& ctx, In grad_out, In in, In params, Saved saved, Out grad_in,
                            Out grad_params) {
  constexpr const char* kWhere = "gpt.head backward (CUDA)";
  const BatchShape shape = batch_shape(in[0], 3, "x");
  const int n = int(shape.rows()), c = int(channels_), v = int(vocab_), vp = int(padded_vocab_);
  DeviceRegions<T> regions(saved.data());
  const auto s = head_layout(regions, n, c);
  check_saved(saved, regions.bytes(), "gpt.head");
  check_numel(in[0], int64_t(n) * c, "x");
  check_numel(grad_in[0], int64_t(n) * c, "dx");
  const T* x = typed_in<T>(in[0], ctx, "x");
  T* dx = typed_out<T>(grad_in[0], ctx, "dx");
  const T* lnf_w = typed_weight<T>(params[0], c, ctx, "lnf_w");
  const T* weight = typed_weight<T>(params[2], padded_vocab_ * channels_, ctx, tied_ ? "wte" : "lm_head_w");
  float* dlnf_w = f32_grad(grad_params[0], c, ctx, "dlnf_w");
  float* dlnf_b = f32_grad(grad_params[1], c, ctx, "dlnf_b");
  float* dweight = f32_grad(grad_params[2], padded_vocab_ * channels_, ctx, tied_ ? "dwte" : "dlm_head_w");
  const float* dloss_on_device = device_scalar(grad_out[0], ctx, "dloss");
  const float dloss_on_host = dloss_on_device == nullptr ? *cpu_data<float>(grad_out[0], "dloss") : 1.0f;
  bind_device(ctx, kWhere);

  cuda_pass(kWhere, [&] {
    const cudaStream_t stream = stream_of(ctx);
    auto scratch =
        workspace_of(workspace_, ctx, shape).carve(scratch::head_backward(dtype_, n, channels_, padded_vocab_), stream);
    T* logits = reinterpret_cast<T*>(scratch[0]);  // (N, Vp) logits, then dlogits in place
    T* d_lnf = reinterpret_cast<T*>(scratch[1]);   // (N, C)
    const int32_t* targets = device_ids(in[1], n, vocab_, reinterpret_cast<int32_t*>(scratch[2]), ctx, "targets");
    cu::GemmContext& gemm = gemm_context(workspace_, ctx);

    cu::matmul_forward(logits, s.lnf, weight, static_cast<const T*>(nullptr), n, c, vp, gemm, stream);
    // dloss is dloss_on_host, or 1 * *dloss_on_device.
    cu::crossentropy_backward(logits, logits, s.lse, targets, dloss_on_host, dloss_on_device, n, v, vp, stream);
    cu::matmul_backward_input(d_lnf, logits, weight, n, c, vp, gemm, stream, /*accumulate=*/false);
    cu::matmul_backward_weight(dweight, nullptr, logits, s.lnf, n, c, vp, gemm, stream);
    // One LayerNorm backward for dx and the gains: it adds, so dx is cleared first (a memset is
    // cheaper than the second pass over d_lnf and x that the overwrite variant would need).
    LLMRT_CUDA_CHECK(cudaMemsetAsync(dx, 0, size_t(n) * c * sizeof(T), stream));
    cu::layernorm_backward(dx, dlnf_w, dlnf_b, d_lnf, x, lnf_w, s.mean, s.rstd, n, c, stream);
  });
}

}  // namespace llmrt::gpt
