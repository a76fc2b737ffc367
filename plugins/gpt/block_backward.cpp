// gpt.block's backward, split for zero-bubble schedules: backward_input walks the block back to
// dx and leaves each linear's output gradient in the saved buffer; backward_weight turns those
// into weight gradients later, from the saved buffer and grad_out alone.
// Under tensor parallelism the gradient reaching a LayerNorm output from its column-parallel
// consumer (qkv, fc) is partial per rank and is all-reduced (Megatron's f operator) before the
// LayerNorm backward, so LayerNorm parameters see the full gradient on every rank.
#include "gpt/gpt_layers.h"

#include <algorithm>

namespace llmrt::gpt {

// grad_out dy: (B, T, C); in x: (B, T, C) -> grad_in dx: (B, T, C), written. Parameter gradients
// are untouched here; the saved buffer gains d_x2, d_fc_pre, d_qkv, d_ln1, d_ln2.
void Block::backward_input(const llmrt_call_ctx& ctx, In grad_out, In in, In params, Saved saved, Out grad_in,
                           Out) {
#if LLMRT_HAVE_CUDA
  if (ctx.device.type == LLMRT_DEVICE_CUDA) return backward_input_cuda(ctx, grad_out, in, params, saved, grad_in);
#endif
  require_cpu(ctx, "gpt.block backward_input");
  expect_count(grad_out.size(), 1, "gpt.block output gradients");
  expect_count(in.size(), 1, "gpt.block inputs");
  expect_count(grad_in.size(), 1, "gpt.block input gradients");
  const BatchShape shape = batch_shape(in[0], 3, "x");
  SavedRegions regions(saved.data(), dtype_);
  const BlockSaved s = saved_regions(regions, saved, shape.batch, shape.seq);
  regions.load(0, s.forward_regions);
  Fp32Views views;
  const std::vector<const float*> p = param_pointers(views, params);
  const float* x = views.read(in[0], "x");
  const float* dy = views.read(grad_out[0], "dy");
  float* dx = views.write(grad_in[0], "dx");
  const int n = int(shape.rows()), c = int(dims_.channels), l = int(dims_.local), h = int(dims_.hidden);
  const size_t nc = size_t(n) * c;
  const Ops ops(host_, ctx);
  std::vector<float> partial(nc);               // (N, C) a LayerNorm output gradient before the sum
  std::vector<float> branch(size_t(n) * h);     // (N, 4C/tp) d fc_act, later (N, C/tp) d att

  // MLP: fc2's output gradient is dy itself (bias and residual pass it through).
  // Each gradient a GPU run stores in 16 bits is rounded where it is made (no-ops at f32).
  ops.linear_backward_input(branch.data(), dy, p[kFc2W], n, h, c);
  regions.round(branch.data(), int64_t(n) * h);
  std::fill_n(s.d_fc_pre, size_t(n) * h, 0.0f);
  ops.activation_backward(LLMRT_ACT_GELU, s.d_fc_pre, s.fc_pre, branch.data(), int64_t(n) * h);
  regions.round(s.d_fc_pre, int64_t(n) * h);
  std::fill(partial.begin(), partial.end(), 0.0f);
  ops.linear_backward_input(partial.data(), s.d_fc_pre, p[kFcW], n, c, h);
  tp_all_reduce(host_, ctx, partial.data(), s.d_ln2, nc, "gpt.block d_ln2");
  regions.round(s.d_ln2, int64_t(nc));
  std::copy_n(dy, nc, s.d_x2);  // the residual path
  ops.layernorm_backward(s.d_x2, nullptr, nullptr, s.d_ln2, s.x2, p[kLn2W], s.mean2, s.rstd2, n, c);
  regions.round(s.d_x2, int64_t(nc));

  // Attention: proj's output gradient is d_x2.
  std::fill_n(branch.data(), size_t(n) * l, 0.0f);
  ops.linear_backward_input(branch.data(), s.d_x2, p[kProjW], n, l, c);
  regions.round(branch.data(), int64_t(n) * l);
  std::fill_n(s.d_qkv, size_t(n) * 3 * l, 0.0f);
  ops.attention_backward(s.d_qkv, branch.data(), s.qkv, s.att, s.lse, int(shape.batch), int(shape.seq), l,
                          int(dims_.heads));
  regions.round(s.d_qkv, int64_t(n) * 3 * l);
  std::fill(partial.begin(), partial.end(), 0.0f);
  ops.linear_backward_input(partial.data(), s.d_qkv, p[kQkvW], n, c, 3 * l);
  tp_all_reduce(host_, ctx, partial.data(), s.d_ln1, nc, "gpt.block d_ln1");
  regions.round(s.d_ln1, int64_t(nc));
  std::copy_n(s.d_x2, nc, dx);  // the residual path
  ops.layernorm_backward(dx, nullptr, nullptr, s.d_ln1, x, p[kLn1W], s.mean1, s.rstd1, n, c);
  regions.store(s.forward_regions, regions.taken());
  views.commit();
}

// grad_out dy: (B, T, C); in x: (B, T, C); accumulates every parameter gradient (+=) from the
// activations forward saved and the output gradients backward_input saved.
void Block::backward_weight(const llmrt_call_ctx& ctx, In grad_out, In in, In params, Saved saved,
                            Out grad_params) {
#if LLMRT_HAVE_CUDA
  if (ctx.device.type == LLMRT_DEVICE_CUDA) return backward_weight_cuda(ctx, grad_out, in, params, saved, grad_params);
#endif
  require_cpu(ctx, "gpt.block backward_weight");
  expect_count(grad_out.size(), 1, "gpt.block output gradients");
  expect_count(in.size(), 1, "gpt.block inputs");
  const BatchShape shape = batch_shape(in[0], 3, "x");
  SavedRegions regions(saved.data(), dtype_);
  BlockSaved s = saved_regions(regions, saved, shape.batch, shape.seq);
  regions.load(0, regions.taken());
  Fp32Views views;
  const std::vector<const float*> p = param_pointers(views, params);
  const std::vector<float*> g = grad_pointers(grad_params);
  const float* x = views.read(in[0], "x");
  const float* dy = views.read(grad_out[0], "dy");
  const int n = int(shape.rows()), c = int(dims_.channels), l = int(dims_.local), h = int(dims_.hidden);
  const Ops ops(host_, ctx);
  if (selective_) {
    // Selective recompute: remake what forward made and did not save, rounded as it was, from
    // the saved statistics and inputs: the same values, bit for bit.
    point_selective(s, shape.rows());
    ops.layernorm_apply(s.ln1, x, s.mean1, s.rstd1, p[kLn1W], p[kLn1B], n, c);
    regions.round(s.ln1, int64_t(n) * c);
    ops.layernorm_apply(s.ln2, s.x2, s.mean2, s.rstd2, p[kLn2W], p[kLn2B], n, c);
    regions.round(s.ln2, int64_t(n) * c);
    ops.activation_forward(LLMRT_ACT_GELU, s.fc_act, s.fc_pre, int64_t(n) * h);
    regions.round(s.fc_act, int64_t(n) * h);
  }

  ops.linear_backward_weight(g[kFc2W], g[kFc2B], dy, s.fc_act, n, h, c);
  ops.linear_backward_weight(g[kFcW], g[kFcB], s.d_fc_pre, s.ln2, n, c, h);
  ops.layernorm_backward(nullptr, g[kLn2W], g[kLn2B], s.d_ln2, s.x2, p[kLn2W], s.mean2, s.rstd2, n, c);
  ops.linear_backward_weight(g[kProjW], g[kProjB], s.d_x2, s.att, n, l, c);
  ops.linear_backward_weight(g[kQkvW], g[kQkvB], s.d_qkv, s.ln1, n, c, 3 * l);
  ops.layernorm_backward(nullptr, g[kLn1W], g[kLn1B], s.d_ln1, x, p[kLn1W], s.mean1, s.rstd1, n, c);
}

}  // namespace llmrt::gpt
