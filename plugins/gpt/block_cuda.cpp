// gpt.block's forward on CUDA (bf16 storage, fp32 accumulation through kernels/cuda): the same
// steps, saved-buffer layout (block_layout over DeviceRegions) and tensor-parallel sums as the
// CPU pass in block.cpp. The row-parallel partial outputs go to the instance's device workspace.
#include "gpt/gpt_cuda.h"

namespace llmrt::gpt {

std::vector<const bf16*> block_weights(const Block& block, In params, const llmrt_call_ctx& ctx) {
  expect_count(params.size(), kBlockParams, "gpt.block params");
  std::vector<const bf16*> pointers(kBlockParams);
  for (size_t p = 0; p < kBlockParams; ++p) {
    pointers[p] = bf16_weight(params[p], block.local_numel(p), ctx, std::string("gpt.block ") + kBlockParamNames[p]);
  }
  return pointers;
}

std::vector<float*> block_grads(const Block& block, Out grads, const llmrt_call_ctx& ctx) {
  expect_count(grads.size(), kBlockParams, "gpt.block parameter gradients");
  std::vector<float*> pointers(kBlockParams);
  for (size_t p = 0; p < kBlockParams; ++p) {
    pointers[p] = f32_grad(grads[p], block.local_numel(p), ctx, std::string("gpt.block d") + kBlockParamNames[p]);
  }
  return pointers;
}

// x: (B, T, C) bf16 -> y: (B, T, C) bf16; saved as block_layout says, in place on the device.
void Block::forward_cuda(const llmrt_call_ctx& ctx, In in, In params, Out out, Saved saved) {
  constexpr const char* kWhere = "gpt.block forward (CUDA)";
  require_bf16(dtype_, kWhere);
  expect_count(in.size(), 1, "gpt.block inputs");
  expect_count(out.size(), 1, "gpt.block outputs");
  const BatchShape shape = batch_shape(in[0], 3, "x");
  if (dims_.local / dims_.heads > cu::kMaxAttentionHeadSize) {
    throw PluginError(std::string(kWhere) + ": head size " + std::to_string(dims_.local / dims_.heads) +
                          " exceeds the CUDA attention kernel's " + std::to_string(cu::kMaxAttentionHeadSize),
                      LLMRT_UNIMPLEMENTED);
  }
  DeviceRegions<bf16> regions(saved.data());
  const auto s = saved_regions(regions, saved, shape.batch, shape.seq);
  const std::vector<const bf16*> p = block_weights(*this, params, ctx);
  const int n = int(shape.rows()), c = int(dims_.channels), l = int(dims_.local), h = int(dims_.hidden);
  const int b = int(shape.batch), t = int(shape.seq), heads = int(dims_.heads);
  check_numel(in[0], int64_t(n) * c, "x");
  check_numel(out[0], int64_t(n) * c, "y");
  const bf16* x = bf16_in(in[0], ctx, "x");
  bf16* y = bf16_out(out[0], ctx, "y");
  bind_device(ctx, kWhere);

  cuda_pass(kWhere, [&] {
    const cudaStream_t stream = stream_of(ctx);
    cu::GemmContext& gemm = gemm_context(ctx.device.index);
    const size_t nc = size_t(n) * c;
    auto scratch = workspace_of(workspace_, ctx).carve(
        {nc * sizeof(bf16), TpSum::scratch_bytes(tp_, n * c), TpSum::scratch_bytes(tp_, n * c)}, stream);
    bf16* partial = reinterpret_cast<bf16*>(scratch[0]);  // (N, C) a row-parallel linear's output
    const TpSum sum{host_, ctx, tp_, reinterpret_cast<float*>(scratch[1]), reinterpret_cast<float*>(scratch[2])};

    // Attention branch: x2 = x + proj(attention(qkv(LN1(x)))) + proj_b, summed over the group.
    cu::layernorm_forward(s.ln1, s.mean1, s.rstd1, x, p[kLn1W], p[kLn1B], n, c, stream);
    cu::matmul_forward(s.qkv, s.ln1, p[kQkvW], p[kQkvB], n, c, 3 * l, gemm, stream);
    cu::attention_forward(s.att, s.lse, s.qkv, b, t, l, heads, stream);
    cu::matmul_forward(partial, s.att, p[kProjW], nullptr, n, l, c, gemm, stream);
    sum.bias_residual(s.x2, partial, x, p[kProjB], n, c, "gpt.block proj");

    // MLP branch, the same pattern: y = x2 + fc2(gelu(fc(LN2(x2)))) + fc2_b.
    cu::layernorm_forward(s.ln2, s.mean2, s.rstd2, s.x2, p[kLn2W], p[kLn2B], n, c, stream);
    cu::matmul_forward(s.fc_pre, s.ln2, p[kFcW], p[kFcB], n, c, h, gemm, stream);
    cu::gelu_forward(s.fc_act, s.fc_pre, size_t(n) * h, stream);
    cu::matmul_forward(partial, s.fc_act, p[kFc2W], nullptr, n, h, c, gemm, stream);
    sum.bias_residual(y, partial, s.x2, p[kFc2B], n, c, "gpt.block fc2");
  });
}

}  // namespace llmrt::gpt
