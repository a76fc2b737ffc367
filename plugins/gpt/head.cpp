// gpt.head: loss = mean cross-entropy(LNf(x) @ W^T, targets), W = wte (tied) or lm_head_w.
// The (N, V) logits are the largest tensor of a GPT step, so they are never saved: backward
// recomputes them (one extra matmul) and runs fused, weight gradients included.
#include "gpt/gpt_layers.h"
#include "gpt/gpt_scratch.h"

#include <algorithm>

namespace llmrt::gpt {

namespace {
// targets: (N) i32, each in [0, V).
const int32_t* checked_targets(const llmrt_tensor& tensor, int64_t rows, int64_t vocab) {
  if (numel(tensor) != rows) throw PluginError("targets: expected " + std::to_string(rows) + " ids");
  const int32_t* targets = cpu_data<int32_t>(tensor, "targets");
  for (int64_t i = 0; i < rows; ++i) {
    if (targets[i] < 0 || targets[i] >= vocab) {
      throw PluginError("targets: id " + std::to_string(targets[i]) + " outside [0, " + std::to_string(vocab) + ")");
    }
  }
  return targets;
}
}  // namespace

std::vector<ConfigKey> Head::config_keys() {
  return {{"d_model", LLMRT_KEY_INT, std::nullopt, "width C of the residual stream"},
          {"vocab_size", LLMRT_KEY_INT, std::nullopt, "V, the classes of the loss (filled from [model])"},
          {"tied_embedding", LLMRT_KEY_BOOL, "true", "project with the embedding's wte instead of lm_head_w"},
          vocab_pad_key()};
}

Head::Head(const ComponentArgs& args)
    : host_(args.host),
      channels_(args.config.get_int("d_model")),
      vocab_(args.config.get_int("vocab_size")),
      tied_(args.config.get_bool("tied_embedding")),
      dtype_(compute_dtype_of(args.layer)) {
  require_width(channels_, "d_model");
  require_positive(vocab_, "vocab_size");
  padded_vocab_ = padded_vocab_of(vocab_, args.config.get_int("vocab_pad_multiple"));
}

// x: (B, T, C), targets: (B, T) i32 -> loss: () f32. Without targets (inference, docs/plugins.md):
// x: (B, T, C) -> logits: (B, T, V) f32.
std::vector<llmrt_tensor> Head::infer_shapes(In in) {
  if (in.size() != 1) expect_count(in.size(), 2, "gpt.head inputs (x, targets)");
  const BatchShape shape = batch_shape(in[0], 3, "x");
  if (in[0].shape[2] != channels_) throw PluginError("x: last dimension is not d_model = " + std::to_string(channels_));
  if (in.size() == 1) return {tensor_shape(LLMRT_DTYPE_F32, {shape.batch, shape.seq, vocab_})};
  const BatchShape targets = batch_shape(in[1], 2, "targets");
  if (targets.batch != shape.batch || targets.seq != shape.seq) {
    throw PluginError("targets: shape differs from x's (B, T)");
  }
  return {tensor_shape(LLMRT_DTYPE_F32, {})};
}

// Replicated under tensor parallelism (no vocabulary-parallel projection yet). The projection
// has the padded vocabulary's rows, kept at zero past vocab_size by the host.
std::vector<ParamSpec> Head::param_specs() {
  ParamSpec projection{tied_ ? "wte" : "lm_head_w", {padded_vocab_, channels_}, LLMRT_INIT_NORMAL, 0.02};
  if (tied_) projection.tie_name = "wte";
  projection.flags = LLMRT_PARAM_VOCAB_ROWS;
  ParamSpec gain{"lnf_w", {channels_}, LLMRT_INIT_ONES, 0}, bias{"lnf_b", {channels_}, LLMRT_INIT_ZEROS, 0};
  gain.flags = bias.flags = LLMRT_PARAM_NO_DECAY;  // the final LayerNorm takes no weight decay
  return {gain, bias, projection};
}

// Forward: the logits matmul. Fused backward: recomputed logits, dx and dW matmuls. All over the
// padded vocabulary: that is the GEMM that runs.
llmrt_cost_hints Head::cost_hints(int64_t batch, int64_t seq) {
  const double matmul = 2 * double(batch) * double(seq) * double(channels_) * double(padded_vocab_);
  llmrt_cost_hints hints{};
  hints.forward_flops = matmul;
  hints.backward_input_flops = 3 * matmul;
  hints.backward_weight_flops = 0;
  hints.activation_bytes = double(saved_bytes(batch, seq));
  // x (B, T, C) and the targets (B, T) i32
  hints.input_bytes = double(region_bytes(batch * seq * channels_, dtype_)) + double(batch * seq) * sizeof(int32_t);
  hints.parameter_bytes = double(2 + padded_vocab_) * double(channels_) * sizeof(float);
  // The CUDA passes' carve: backward's (N, Vp) logits and (N, C) d_lnf are the most.
  const int64_t rows = batch * seq;
  hints.workspace_bytes = double(scratch::largest({scratch::head_forward(dtype_, rows, padded_vocab_),
                                                   scratch::head_backward(dtype_, rows, channels_, padded_vocab_)}));
  return hints;
}

size_t Head::saved_bytes(int64_t batch, int64_t seq) {
  SavedRegions counter(nullptr, dtype_);
  head_layout(counter, batch * seq, channels_);
  return counter.bytes();
}

// Inference (no targets): x (B, T, C) -> logits (B, T, V) f32, on the CPU: the GEMM's (N, Vp)
// with the padded columns left out, so no caller can pick a padded id. Nothing is kept for a
// backward pass; `saved` is only scratch for the final LayerNorm.
void Head::forward_logits(const llmrt_call_ctx& ctx, In in, In params, Out out, Saved saved) {
  require_cpu(ctx, "gpt.head forward (logits)");
  const int64_t n = batch_shape(in[0], 3, "x").rows();
  SavedRegions regions(saved.data(), dtype_);
  const auto s = head_layout(regions, n, channels_);
  check_saved(saved, regions.bytes(), "gpt.head");
  check_numel(out[0], n * vocab_, "logits");
  float* logits = cpu_data<float>(out[0], "logits");
  Fp32Views views;
  const Ops ops(host_, ctx);
  ops.layernorm_forward(s.lnf, s.mean, s.rstd, views.read(in[0], "x"), weight_data(views, params[0], channels_, "lnf_w"),
                         weight_data(views, params[1], channels_, "lnf_b"), int(n), int(channels_));
  regions.round(s.lnf, n * channels_);
  const float* weight = weight_data(views, params[2], padded_vocab_ * channels_, "wte");
  if (padded_vocab_ == vocab_) return ops.linear_forward(logits, s.lnf, weight, nullptr, n, channels_, vocab_);
  std::vector<float> padded(size_t(n) * padded_vocab_);  // (N, Vp) scratch
  ops.linear_forward(padded.data(), s.lnf, weight, nullptr, n, channels_, padded_vocab_);
  for (int64_t row = 0; row < n; ++row) {
    std::copy_n(padded.data() + row * padded_vocab_, vocab_, logits + row * vocab_);
  }
}

// x: (B, T, C), targets: (B, T) -> loss: () the mean over B*T rows
void Head::forward(const llmrt_call_ctx& ctx, In in, In params, Out out, Saved saved) {
  if (in.size() != 1) expect_count(in.size(), 2, "gpt.head inputs");
  expect_count(params.size(), 3, "gpt.head params");
  expect_count(out.size(), 1, "gpt.head outputs");
  if (in.size() == 1) return forward_logits(ctx, in, params, out, saved);
#if LLMRT_HAVE_CUDA
  if (ctx.device.type == LLMRT_DEVICE_CUDA) return forward_cuda(ctx, in, params, out, saved);
#endif
  require_cpu(ctx, "gpt.head forward");
  const BatchShape shape = batch_shape(in[0], 3, "x");
  const int64_t n = shape.rows();
  SavedRegions regions(saved.data(), dtype_);
  const auto s = head_layout(regions, n, channels_);
  check_saved(saved, regions.bytes(), "gpt.head");
  const int32_t* targets = checked_targets(in[1], n, vocab_);
  float* loss = cpu_data<float>(out[0], "loss");  // f32 at every precision
  if (numel(out[0]) != 1) throw PluginError("loss: expected a scalar");
  Fp32Views views;
  const Ops ops(host_, ctx);

  ops.layernorm_forward(s.lnf, s.mean, s.rstd, views.read(in[0], "x"), weight_data(views, params[0], channels_, "lnf_w"),
                         weight_data(views, params[1], channels_, "lnf_b"), int(n), int(channels_));
  regions.round(s.lnf, n * channels_);
  std::vector<float> logits(size_t(n) * padded_vocab_), losses(static_cast<size_t>(n));  // (N, Vp), (N) scratch
  ops.linear_forward(logits.data(), s.lnf, weight_data(views, params[2], padded_vocab_ * channels_, "wte"), nullptr, n,
                     channels_, padded_vocab_);
  regions.round(logits.data(), n * padded_vocab_);  // a GPU run's logits are 16-bit too
  // The loss over the first V columns: the padded classes do not exist.
  *loss = ops.cross_entropy_forward(losses.data(), s.lse, logits.data(), targets, n, vocab_, padded_vocab_);
  regions.store(0, regions.taken());
}

// grad_out: dloss () (1/microbatches under accumulation) -> dx (B, T, C) written; dlnf_w,
// dlnf_b (C) and dW (Vp, C) accumulated (the padded rows' share is zero: their logits get no
// gradient). The targets get no gradient.
void Head::backward_input(const llmrt_call_ctx& ctx, In grad_out, In in, In params, Saved saved, Out grad_in,
                          Out grad_params) {
  expect_count(grad_out.size(), 1, "gpt.head output gradients");
  expect_count(in.size(), 2, "gpt.head inputs");
  expect_count(params.size(), 3, "gpt.head params");
  expect_count(grad_params.size(), 3, "gpt.head parameter gradients");
  if (grad_in.empty()) throw PluginError("gpt.head: no gradient tensor for x");
#if LLMRT_HAVE_CUDA
  if (ctx.device.type == LLMRT_DEVICE_CUDA) return backward_cuda(ctx, grad_out, in, params, saved, grad_in, grad_params);
#endif
  require_cpu(ctx, "gpt.head backward");
  const BatchShape shape = batch_shape(in[0], 3, "x");
  const int n = int(shape.rows()), c = int(channels_), vp = int(padded_vocab_);
  SavedRegions regions(saved.data(), dtype_);
  const auto s = head_layout(regions, n, c);
  check_saved(saved, regions.bytes(), "gpt.head");
  regions.load(0, regions.taken());
  const int32_t* targets = checked_targets(in[1], n, vocab_);
  Fp32Views views;
  const float* weight = weight_data(views, params[2], padded_vocab_ * channels_, "wte");
  const float dloss = *cpu_data<float>(grad_out[0], "dloss");  // f32 at every precision
  const Ops ops(host_, ctx);

  std::vector<float> logits(size_t(n) * vp);  // (N, Vp) scratch: logits, then dlogits in place
  ops.linear_forward(logits.data(), s.lnf, weight, nullptr, n, c, vp);
  regions.round(logits.data(), int64_t(n) * vp);
  // dlogits: zero in the padded columns, so the padded rows of dW get nothing and stay zero.
  ops.cross_entropy_backward(logits.data(), logits.data(), s.lse, targets, dloss, n, vocab_, vp);
  regions.round(logits.data(), int64_t(n) * vp);
  std::vector<float> d_lnf(size_t(n) * c, 0.0f);  // (N, C)
  ops.linear_backward_input(d_lnf.data(), logits.data(), weight, n, c, vp);
  ops.linear_backward_weight(param_data(grad_params[2], padded_vocab_ * channels_, "dwte"), nullptr, logits.data(),
                             s.lnf, n, c, vp);
  regions.round(d_lnf.data(), int64_t(n) * c);
  float* dx = views.write(grad_in[0], "dx");
  std::fill_n(dx, size_t(n) * c, 0.0f);
  ops.layernorm_backward(dx, param_data(grad_params[0], channels_, "dlnf_w"),
                          param_data(grad_params[1], channels_, "dlnf_b"), d_lnf.data(), views.read(in[0], "x"),
                          weight_data(views, params[0], channels_, "lnf_w"), s.mean, s.rstd, n, c);
  views.commit();
}

}  // namespace llmrt::gpt
