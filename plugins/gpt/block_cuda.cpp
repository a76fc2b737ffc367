// gpt.block's forward on CUDA at storage type T (f32, bf16 or f16; fp32 accumulation through
// kernels/cuda): the same steps, saved-buffer layout (block_layout over DeviceRegions) and
// tensor-parallel sums as the CPU pass in block.cpp. fc and GELU are one GEMM (a cuBLASLt
// epilogue). The row-parallel partial outputs, and under selective recompute ln1, ln2 and fc_act,
// go to the stream's device workspace (regions: gpt_scratch.h block_forward).
#include "gpt/gpt_cuda.h"

namespace llmrt::gpt {

static_assert(kCudaMaxHeadSize == cu::kMaxAttentionHeadSize, "gpt_layers.h and kernels_cuda.h disagree");

template <typename T>
std::vector<const T*> block_weights(const Block& block, In params, const llmrt_call_ctx& ctx) {
  expect_count(params.size(), kBlockParams, "gpt.block params");
  std::vector<const T*> pointers(kBlockParams);
  for (size_t p = 0; p < kBlockParams; ++p) {
    pointers[p] = typed_weight<T>(params[p], block.local_numel(p), ctx, std::string("gpt.block ") + kBlockParamNames[p]);
  }
  return pointers;
}
template std::vector<const float*> block_weights<float>(const Block&, In, const llmrt_call_ctx&);
template std::vector<const bf16*> block_weights<bf16>(const Block&, In, const llmrt_call_ctx&);
template std::vector<const f16*> block_weights<f16>(const Block&, In, const llmrt_call_ctx&);

std::vector<float*> block_grads(const Block& block, Out grads, const llmrt_call_ctx& ctx) {
  expect_count(grads.size(), kBlockParams, "gpt.block parameter gradients");
  std::vector<float*> pointers(kBlockParams);
  for (size_t p = 0; p < kBlockParams; ++p) {
    pointers[p] = f32_grad(grads[p], block.local_numel(p), ctx, std::string("gpt.block d") + kBlockParamNames[p]);
  }
  return pointers;
}

void Block::forward_cuda(const llmrt_call_ctx& ctx, In in, In params, Out out, Saved saved) {
  dispatch_dtype(dtype_, "gpt.block forward (CUDA)", [&](auto type) {
    forward_cuda_as<typename decltype(type)::type>(ctx, in, params, out, saved);
  });
}

// x: (B, T, C) -> y: (B, T, C), both T; saved as block_layout says, in place on the device.
template <typename T>
void Block::forward_cuda_as(const llmrt_call_ctx& ctx, In in, In params, Out out, Saved saved) {
  constexpr const char* kWhere = "gpt.block forward (CUDA)";
  expect_count(in.size(), 1, "gpt.block inputs");
  expect_count(out.size(), 1, "gpt.block outputs");
  const BatchShape shape = batch_shape(in[0], 3, "x");
  if (const std::string refused = supports(ctx.device, static_cast<llmrt_dtype>(dtype_)); !refused.empty()) {
    throw PluginError(std::string(kWhere) + ": " + refused, LLMRT_UNIMPLEMENTED);
  }
  DeviceRegions<T> regions(saved.data());
  auto s = saved_regions(regions, saved, shape.batch, shape.seq);
  const std::vector<const T*> p = block_weights<T>(*this, params, ctx);
  const int n = int(shape.rows()), c = int(dims_.channels), l = int(dims_.local), h = int(dims_.hidden);
  const int b = int(shape.batch), t = int(shape.seq), heads = int(dims_.heads);
  const size_t nc = size_t(n) * c;
  check_numel(in[0], int64_t(nc), "x");
  check_numel(out[0], int64_t(nc), "y");
  const T* x = typed_in<T>(in[0], ctx, "x");
  T* y = typed_out<T>(out[0], ctx, "y");
  bind_device(ctx, kWhere);

  cuda_pass(kWhere, [&] {
    const cudaStream_t stream = stream_of(ctx);
    cu::GemmContext& gemm = gemm_context(workspace_, ctx);
    // Selective recompute: ln1 and ln2 share one (N, C) region (ln1 is dead once qkv is made),
    // fc_act gets (N, 4C/tp); backward_weight remakes all three.
    auto scratch = workspace_of(workspace_, ctx, shape)
                       .carve(scratch::block_forward(dims_, dtype_, tp_, selective_, shape.batch, shape.seq), stream);
    T* partial = reinterpret_cast<T*>(scratch[0]);  // (N, C) a row-parallel linear's output
    const TpSum sum{host_, ctx, tp_, reinterpret_cast<float*>(scratch[1]), reinterpret_cast<float*>(scratch[2])};
    if (selective_) {
      s.ln1 = s.ln2 = reinterpret_cast<T*>(scratch[3]);
      s.fc_act = reinterpret_cast<T*>(scratch[4]);
    }

    // Attention branch: x2 = x + proj(attention(qkv(LN1(x)))) + proj_b, summed over the group.
    cu::layernorm_forward(s.ln1, s.mean1, s.rstd1, x, p[kLn1W], p[kLn1B], n, c, stream);
    cu::matmul_forward(s.qkv, s.ln1, p[kQkvW], p[kQkvB], n, c, 3 * l, gemm, stream);
    cu::attention_forward(s.att, s.lse, s.qkv, b, t, l, heads, stream);
    cu::matmul_forward(partial, s.att, p[kProjW], static_cast<const T*>(nullptr), n, l, c, gemm, stream);
    sum.bias_residual(s.x2, partial, x, p[kProjB], n, c, "gpt.block proj");

    // MLP branch, the same pattern: y = x2 + fc2(gelu(fc(LN2(x2)))) + fc2_b; fc_pre is saved
    // for GELU's backward, fc_act for fc2's weight gradient.
    cu::layernorm_forward(s.ln2, s.mean2, s.rstd2, s.x2, p[kLn2W], p[kLn2B], n, c, stream);
    cu::matmul_forward_gelu(s.fc_act, s.fc_pre, s.ln2, p[kFcW], p[kFcB], n, c, h, gemm, stream);
    cu::matmul_forward(partial, s.fc_act, p[kFc2W], static_cast<const T*>(nullptr), n, h, c, gemm, stream);
    sum.bias_residual(y, partial, s.x2, p[kFc2B], n, c, "gpt.block fc2");
  });
}

}  // namespace llmrt::gpt
