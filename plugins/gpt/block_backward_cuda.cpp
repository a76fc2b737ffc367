// gpt.block's backward on CUDA at storage type T (f32, bf16 or f16), split as on the CPU
// (block_backward.cpp): backward_input walks back to dx and leaves each linear's output gradient
// in the saved buffer (T, in place on the device); backward_weight turns them into the fp32
// weight gradients later. Every buffer backward_input fills has one producer, so the kernels
// that fill it overwrite (no memsets, no residual copies): GELU's backward is fc2's GEMM
// epilogue, the residual add is fused into the LayerNorm backward, attention writes dqkv.
#include "gpt/gpt_cuda.h"

namespace llmrt::gpt {

void Block::backward_input_cuda(const llmrt_call_ctx& ctx, In grad_out, In in, In params, Saved saved,
                                Out grad_in) {
  dispatch_dtype(dtype_, "gpt.block backward_input (CUDA)", [&](auto type) {
    backward_input_cuda_as<typename decltype(type)::type>(ctx, grad_out, in, params, saved, grad_in);
  });
}

void Block::backward_weight_cuda(const llmrt_call_ctx& ctx, In grad_out, In in, In params, Saved saved,
                                 Out grad_params) {
  dispatch_dtype(dtype_, "gpt.block backward_weight (CUDA)", [&](auto type) {
    backward_weight_cuda_as<typename decltype(type)::type>(ctx, grad_out, in, params, saved, grad_params);
  });
}

// grad_out dy: (B, T, C); in x: (B, T, C) -> grad_in dx: (B, T, C), written; all T.
// The saved buffer gains d_x2, d_fc_pre, d_qkv, d_ln1, d_ln2 (the last two summed over tp).
template <typename T>
void Block::backward_input_cuda_as(const llmrt_call_ctx& ctx, In grad_out, In in, In params, Saved saved,
                                   Out grad_in) {
  constexpr const char* kWhere = "gpt.block backward_input (CUDA)";
  expect_count(grad_out.size(), 1, "gpt.block output gradients");
  expect_count(in.size(), 1, "gpt.block inputs");
  expect_count(grad_in.size(), 1, "gpt.block input gradients");
  const BatchShape shape = batch_shape(in[0], 3, "x");
  DeviceRegions<T> regions(saved.data());
  const auto s = saved_regions(regions, saved, shape.batch, shape.seq);
  const std::vector<const T*> p = block_weights<T>(*this, params, ctx);
  const int n = int(shape.rows()), c = int(dims_.channels), l = int(dims_.local), h = int(dims_.hidden);
  const int b = int(shape.batch), t = int(shape.seq), heads = int(dims_.heads);
  const size_t nc = size_t(n) * c;
  check_numel(in[0], int64_t(nc), "x");
  check_numel(grad_out[0], int64_t(nc), "dy");
  check_numel(grad_in[0], int64_t(nc), "dx");
  const T* x = typed_in<T>(in[0], ctx, "x");
  const T* dy = typed_in<T>(grad_out[0], ctx, "dy");
  T* dx = typed_out<T>(grad_in[0], ctx, "dx");
  bind_device(ctx, kWhere);

  cuda_pass(kWhere, [&] {
    const cudaStream_t stream = stream_of(ctx);
    cu::GemmContext& gemm = gemm_context(workspace_, ctx);
    const scratch::Regions regions = scratch::block_backward_input(dims_, dtype_, tp_, shape.batch, shape.seq);
    const size_t attention_bytes = regions[3];  // 0 at f32: the CUDA-core path takes none
    auto scratch = workspace_of(workspace_, ctx, shape).carve(regions, stream);
    T* d_att = reinterpret_cast<T*>(scratch[0]);  // (N, C/tp) attention's output gradient
    const TpSum sum{host_, ctx, tp_, reinterpret_cast<float*>(scratch[1]), reinterpret_cast<float*>(scratch[2])};
    void* attention_scratch = attention_bytes > 0 ? scratch[3] : nullptr;  // 256-byte aligned by carve

    // MLP: fc2's output gradient is dy itself (bias and residual pass it through);
    // d_fc_pre (N, 4C/tp) = (dy @ fc2_w) * gelu'(fc_pre), one GEMM.
    cu::matmul_backward_input_gelu(s.d_fc_pre, dy, p[kFc2W], s.fc_pre, n, h, c, gemm, stream);
    cu::matmul_backward_input(s.d_ln2, s.d_fc_pre, p[kFcW], n, c, h, gemm, stream, /*accumulate=*/false);
    sum.in_place(s.d_ln2, nc, "gpt.block d_ln2");
    // d_x2 (N, C) = dy (the residual path) + LN2's input gradient.
    cu::layernorm_backward_residual(s.d_x2, dy, s.d_ln2, s.x2, p[kLn2W], s.mean2, s.rstd2, n, c, stream);

    // Attention: proj's output gradient is d_x2.
    cu::matmul_backward_input(d_att, s.d_x2, p[kProjW], n, l, c, gemm, stream, /*accumulate=*/false);
    cu::attention_backward(s.d_qkv, d_att, s.qkv, s.att, s.lse, attention_scratch, b, t, l, heads, stream);
    cu::matmul_backward_input(s.d_ln1, s.d_qkv, p[kQkvW], n, c, 3 * l, gemm, stream, /*accumulate=*/false);
    sum.in_place(s.d_ln1, nc, "gpt.block d_ln1");
    // dx (N, C) = d_x2 (the residual path) + LN1's input gradient.
    cu::layernorm_backward_residual(dx, s.d_x2, s.d_ln1, x, p[kLn1W], s.mean1, s.rstd1, n,
                                    c, stream);
  });
}

// grad_out dy: (B, T, C); in x: (B, T, C), both T; accumulates every fp32 parameter gradient
// (+=) from what forward and backward_input saved. Under selective recompute ln2, fc_act and
// ln1 are remade first in the workspace from the same inputs. ln1 and ln2 come from the kernel
// forward ran; fc_act is gelu of the stored (rounded) fc_pre, while forward's fused GEMM epilogue
// took gelu of the unrounded value: at bf16/f16 the two may differ by one rounding, so the
// gradients match recompute = "none"'s within that, not bitwise (the CPU path is bitwise).
template <typename T>
void Block::backward_weight_cuda_as(const llmrt_call_ctx& ctx, In grad_out, In in, In params, Saved saved,
                                    Out grad_params) {
  constexpr const char* kWhere = "gpt.block backward_weight (CUDA)";
  expect_count(grad_out.size(), 1, "gpt.block output gradients");
  expect_count(in.size(), 1, "gpt.block inputs");
  const BatchShape shape = batch_shape(in[0], 3, "x");
  DeviceRegions<T> regions(saved.data());
  auto s = saved_regions(regions, saved, shape.batch, shape.seq);
  const std::vector<const T*> p = block_weights<T>(*this, params, ctx);
  const std::vector<float*> g = block_grads(*this, grad_params, ctx);
  const int n = int(shape.rows()), c = int(dims_.channels), l = int(dims_.local), h = int(dims_.hidden);
  const size_t nc = size_t(n) * c, nh = size_t(n) * h;
  check_numel(in[0], int64_t(nc), "x");
  check_numel(grad_out[0], int64_t(nc), "dy");
  const T* x = typed_in<T>(in[0], ctx, "x");
  const T* dy = typed_in<T>(grad_out[0], ctx, "dy");
  bind_device(ctx, kWhere);

  cuda_pass(kWhere, [&] {
    const cudaStream_t stream = stream_of(ctx);
    cu::GemmContext& gemm = gemm_context(workspace_, ctx);
    float *mean = nullptr, *rstd = nullptr;  // (N) recomputed statistics: the saved ones stay as they are
    if (selective_) {
      auto scratch = workspace_of(workspace_, ctx, shape)
                         .carve(scratch::block_backward_weight(dims_, dtype_, true, shape.batch, shape.seq), stream);
      s.ln1 = s.ln2 = reinterpret_cast<T*>(scratch[0]);  // (N, C): ln2 first, ln1 once ln2 is spent
      s.fc_act = reinterpret_cast<T*>(scratch[1]);       // (N, 4C/tp)
      mean = reinterpret_cast<float*>(scratch[2]), rstd = reinterpret_cast<float*>(scratch[3]);
      cu::layernorm_forward(s.ln2, mean, rstd, s.x2, p[kLn2W], p[kLn2B], n, c, stream);
      cu::gelu_forward(s.fc_act, s.fc_pre, nh, stream);
    }
    T* const no_dinp = nullptr;  // the LayerNorms' input gradients were backward_input's
    cu::matmul_backward_weight(g[kFc2W], g[kFc2B], dy, s.fc_act, n, h, c, gemm, stream);
    cu::matmul_backward_weight(g[kFcW], g[kFcB], s.d_fc_pre, s.ln2, n, c, h, gemm, stream);
    cu::layernorm_backward(no_dinp, g[kLn2W], g[kLn2B], s.d_ln2, s.x2, p[kLn2W], s.mean2, s.rstd2, n, c, stream);
    cu::matmul_backward_weight(g[kProjW], g[kProjB], s.d_x2, s.att, n, l, c, gemm, stream);
    if (selective_) cu::layernorm_forward(s.ln1, mean, rstd, x, p[kLn1W], p[kLn1B], n, c, stream);
    cu::matmul_backward_weight(g[kQkvW], g[kQkvB], s.d_qkv, s.ln1, n, c, 3 * l, gemm, stream);
    cu::layernorm_backward(no_dinp, g[kLn1W], g[kLn1B], s.d_ln1, x, p[kLn1W], s.mean1, s.rstd1, n, c, stream);
  });
}

}  // namespace llmrt::gpt
