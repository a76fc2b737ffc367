// gpt.block's backward on CUDA, split as on the CPU (block_backward.cpp): backward_input walks
// back to dx and leaves each linear's output gradient in the saved buffer (bf16, in place on
// the device); backward_weight turns them into the fp32 weight gradients later. The `+=`
// kernels write into buffers zeroed on the stream first.
#include "gpt/gpt_cuda.h"

namespace llmrt::gpt {

namespace {
void zero(void* data, size_t bytes, cudaStream_t stream) { LLMRT_CUDA_CHECK(cudaMemsetAsync(data, 0, bytes, stream)); }
void copy(void* dst, const void* src, size_t bytes, cudaStream_t stream) {
  LLMRT_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream));
}
}  // namespace

// grad_out dy: (B, T, C) bf16; in x: (B, T, C) bf16 -> grad_in dx: (B, T, C) bf16, written.
// The saved buffer gains d_x2, d_fc_pre, d_qkv, d_ln1, d_ln2 (the last two summed over tp).
void Block::backward_input_cuda(const llmrt_call_ctx& ctx, In grad_out, In in, In params, Saved saved,
                                Out grad_in) {
  constexpr const char* kWhere = "gpt.block backward_input (CUDA)";
  require_bf16(dtype_, kWhere);
  expect_count(grad_out.size(), 1, "gpt.block output gradients");
  expect_count(in.size(), 1, "gpt.block inputs");
  expect_count(grad_in.size(), 1, "gpt.block input gradients");
  const BatchShape shape = batch_shape(in[0], 3, "x");
  DeviceRegions<bf16> regions(saved.data());
  const auto s = saved_regions(regions, saved, shape.batch, shape.seq);
  const std::vector<const bf16*> p = block_weights(*this, params, ctx);
  const int n = int(shape.rows()), c = int(dims_.channels), l = int(dims_.local), h = int(dims_.hidden);
  const int b = int(shape.batch), t = int(shape.seq), heads = int(dims_.heads);
  const size_t nc = size_t(n) * c, nh = size_t(n) * h, nl = size_t(n) * l;
  check_numel(in[0], int64_t(nc), "x");
  check_numel(grad_out[0], int64_t(nc), "dy");
  check_numel(grad_in[0], int64_t(nc), "dx");
  const bf16* x = bf16_in(in[0], ctx, "x");
  const bf16* dy = bf16_in(grad_out[0], ctx, "dy");
  bf16* dx = bf16_out(grad_in[0], ctx, "dx");
  bind_device(ctx, kWhere);

  cuda_pass(kWhere, [&] {
    const cudaStream_t stream = stream_of(ctx);
    cu::GemmContext& gemm = gemm_context(ctx.device.index);
    auto scratch = workspace_of(workspace_, ctx).carve(
        {nh * sizeof(bf16), TpSum::scratch_bytes(tp_, n * c), TpSum::scratch_bytes(tp_, n * c)}, stream);
    bf16* branch = reinterpret_cast<bf16*>(scratch[0]);  // (N, 4C/tp) d fc_act, later (N, C/tp) d att
    const TpSum sum{host_, ctx, tp_, reinterpret_cast<float*>(scratch[1]), reinterpret_cast<float*>(scratch[2])};

    // MLP: fc2's output gradient is dy itself (bias and residual pass it through).
    zero(branch, nh * sizeof(bf16), stream);
    cu::matmul_backward_input(branch, dy, p[kFc2W], n, h, c, gemm, stream);
    zero(s.d_fc_pre, nh * sizeof(bf16), stream);
    cu::gelu_backward(s.d_fc_pre, s.fc_pre, branch, nh, stream);
    zero(s.d_ln2, nc * sizeof(bf16), stream);
    cu::matmul_backward_input(s.d_ln2, s.d_fc_pre, p[kFcW], n, c, h, gemm, stream);
    sum.in_place(s.d_ln2, nc, "gpt.block d_ln2");
    copy(s.d_x2, dy, nc * sizeof(bf16), stream);  // the residual path
    cu::layernorm_backward(s.d_x2, nullptr, nullptr, s.d_ln2, s.x2, p[kLn2W], s.mean2, s.rstd2, n, c, stream);

    // Attention: proj's output gradient is d_x2.
    zero(branch, nl * sizeof(bf16), stream);
    cu::matmul_backward_input(branch, s.d_x2, p[kProjW], n, l, c, gemm, stream);
    zero(s.d_qkv, 3 * nl * sizeof(bf16), stream);
    cu::attention_backward(s.d_qkv, branch, s.qkv, s.att, s.lse, b, t, l, heads, stream);
    zero(s.d_ln1, nc * sizeof(bf16), stream);
    cu::matmul_backward_input(s.d_ln1, s.d_qkv, p[kQkvW], n, c, 3 * l, gemm, stream);
    sum.in_place(s.d_ln1, nc, "gpt.block d_ln1");
    copy(dx, s.d_x2, nc * sizeof(bf16), stream);  // the residual path
    cu::layernorm_backward(dx, nullptr, nullptr, s.d_ln1, x, p[kLn1W], s.mean1, s.rstd1, n, c, stream);
  });
}

// grad_out dy: (B, T, C) bf16; in x: (B, T, C) bf16; accumulates every fp32 parameter gradient
// (+=) from what forward and backward_input saved.
void Block::backward_weight_cuda(const llmrt_call_ctx& ctx, In grad_out, In in, In params, Saved saved,
                                 Out grad_params) {
  constexpr const char* kWhere = "gpt.block backward_weight (CUDA)";
  require_bf16(dtype_, kWhere);
  expect_count(grad_out.size(), 1, "gpt.block output gradients");
  expect_count(in.size(), 1, "gpt.block inputs");
  const BatchShape shape = batch_shape(in[0], 3, "x");
  DeviceRegions<bf16> regions(saved.data());
  const auto s = saved_regions(regions, saved, shape.batch, shape.seq);
  const std::vector<const bf16*> p = block_weights(*this, params, ctx);
  const std::vector<float*> g = block_grads(*this, grad_params, ctx);
  const int n = int(shape.rows()), c = int(dims_.channels), l = int(dims_.local), h = int(dims_.hidden);
  check_numel(in[0], int64_t(n) * c, "x");
  check_numel(grad_out[0], int64_t(n) * c, "dy");
  const bf16* x = bf16_in(in[0], ctx, "x");
  const bf16* dy = bf16_in(grad_out[0], ctx, "dy");
  bind_device(ctx, kWhere);

  cuda_pass(kWhere, [&] {
    const cudaStream_t stream = stream_of(ctx);
    cu::GemmContext& gemm = gemm_context(ctx.device.index);
    cu::matmul_backward_weight(g[kFc2W], g[kFc2B], dy, s.fc_act, n, h, c, gemm, stream);
    cu::matmul_backward_weight(g[kFcW], g[kFcB], s.d_fc_pre, s.ln2, n, c, h, gemm, stream);
    cu::layernorm_backward(nullptr, g[kLn2W], g[kLn2B], s.d_ln2, s.x2, p[kLn2W], s.mean2, s.rstd2, n, c, stream);
    cu::matmul_backward_weight(g[kProjW], g[kProjB], s.d_x2, s.att, n, l, c, gemm, stream);
    cu::matmul_backward_weight(g[kQkvW], g[kQkvB], s.d_qkv, s.ln1, n, c, 3 * l, gemm, stream);
    cu::layernorm_backward(nullptr, g[kLn1W], g[kLn1B], s.d_ln1, x, p[kLn1W], s.mean1, s.rstd1, n, c, stream);
  });
}

}  // namespace llmrt::gpt
