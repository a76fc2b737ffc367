// The GPT-2 layers as llmrt plugin components: gpt.embedding (token + learned position),
// gpt.block (pre-LayerNorm attention + MLP, Megatron tensor parallel) and gpt.head (final
// LayerNorm, output projection tied to wte or not, mean cross-entropy loss).
// Notation: B batch, T sequence, C d_model, V vocab, N = B*T rows, L the model's block count.
#pragma once

#include "gpt/gpt_common.h"

#include <string>
#include <vector>

namespace llmrt::gpt {

// in: tokens (B, T) i32 -> out: x (B, T, C) f32. Params: wte (V, C) tied as "wte", wpe (seq_len, C).
class Embedding : public Layer {
 public:
  static std::vector<ConfigKey> config_keys();
  explicit Embedding(const ComponentArgs& args);
  std::vector<llmrt_tensor> infer_shapes(In in) override;
  std::vector<ParamSpec> param_specs() override;
  std::string supports(const llmrt_device& device, llmrt_dtype dtype) override { return gpt_supports(device, dtype); }
  llmrt_cost_hints cost_hints(int64_t batch, int64_t seq) override;
  void forward(const llmrt_call_ctx& ctx, In in, In params, Out out, Saved saved) override;
  void backward_input(const llmrt_call_ctx& ctx, In grad_out, In in, In params, Saved saved, Out grad_in,
                      Out grad_params) override;
  void backward_weight(const llmrt_call_ctx& ctx, In grad_out, In in, In params, Saved saved,
                       Out grad_params) override;

 private:
  int64_t channels_, vocab_, max_seq_;
  int32_t dtype_;  // activations and weights as the layer receives them
};

// The block's local sizes under tensor parallelism (tp ranks split heads and MLP width).
struct BlockDims {
  int64_t channels;  // C, replicated
  int64_t heads;     // this rank's heads, NH / tp
  int64_t local;     // this rank's attention width C / tp
  int64_t hidden;    // this rank's MLP width 4C / tp
};

// Parameter positions, in param_specs() order.
enum BlockParam : size_t {
  kLn1W, kLn1B, kQkvW, kQkvB, kProjW, kProjB, kLn2W, kLn2B, kFcW, kFcB, kFc2W, kFc2B, kBlockParams
};

// Regions of the saved buffer for one microbatch (see block.cpp for what each holds), as fp32.
struct BlockSaved {
  // forward
  float *ln1, *mean1, *rstd1, *qkv, *att, *lse, *x2, *ln2, *mean2, *rstd2, *fc_pre, *fc_act;
  // backward_input, for backward_weight
  float *d_x2, *d_fc_pre, *d_qkv, *d_ln1, *d_ln2;
  size_t forward_regions;  // regions [0, forward_regions) are forward's, the rest backward_input's
};

// in: x (B, T, C) -> out: y (B, T, C). Params (global shapes; shard dims in block.cpp):
// ln1_w, ln1_b (C); qkv_w (3, C, C); qkv_b (3, C); proj_w (C, C); proj_b (C); ln2_w, ln2_b (C);
// fc_w (4C, C); fc_b (4C); fc2_w (C, 4C); fc2_b (C). Linear weights are (out, in).
class Block : public Layer {
 public:
  static std::vector<ConfigKey> config_keys();
  explicit Block(const ComponentArgs& args);
  std::vector<llmrt_tensor> infer_shapes(In in) override;
  std::vector<ParamSpec> param_specs() override;
  std::string supports(const llmrt_device& device, llmrt_dtype dtype) override { return gpt_supports(device, dtype); }
  llmrt_cost_hints cost_hints(int64_t batch, int64_t seq) override;
  size_t saved_bytes(int64_t batch, int64_t seq) override;
  void forward(const llmrt_call_ctx& ctx, In in, In params, Out out, Saved saved) override;
  void backward_input(const llmrt_call_ctx& ctx, In grad_out, In in, In params, Saved saved, Out grad_in,
                      Out grad_params) override;
  void backward_weight(const llmrt_call_ctx& ctx, In grad_out, In in, In params, Saved saved,
                       Out grad_params) override;

 private:
  // Carves `regions`' buffer (or only counts, when it has none) into the block's regions.
  BlockSaved layout(SavedRegions& regions, int64_t batch, int64_t seq) const;
  // layout() of a host buffer that must be large enough.
  BlockSaved saved_regions(SavedRegions& regions, Saved saved, int64_t batch, int64_t seq) const;
  int64_t local_numel(size_t param) const;
  std::vector<const float*> param_pointers(Fp32Views& views, In params) const;
  std::vector<float*> grad_pointers(Out grads) const;

  const llmrt_host_api* host_;
  int64_t heads_total_, n_layer_, tp_;
  int32_t dtype_;  // activations and weights as the layer receives them
  BlockDims dims_;
};

// in: x (B, T, C), targets (B, T) i32 -> out: loss () f32, the mean over B*T. Params: lnf_w,
// lnf_b (C), then wte (V, C) tied as "wte", or lm_head_w (V, C) when untied. Backward is fused
// (weight gradients in backward_input): the (N, V) logits are recomputed, never saved.
class Head : public Layer {
 public:
  static constexpr uint32_t kFlags = LLMRT_LAYER_FUSED_BACKWARD;
  static std::vector<ConfigKey> config_keys();
  explicit Head(const ComponentArgs& args);
  std::vector<llmrt_tensor> infer_shapes(In in) override;
  std::vector<ParamSpec> param_specs() override;
  std::string supports(const llmrt_device& device, llmrt_dtype dtype) override { return gpt_supports(device, dtype); }
  llmrt_cost_hints cost_hints(int64_t batch, int64_t seq) override;
  size_t saved_bytes(int64_t batch, int64_t seq) override;
  void forward(const llmrt_call_ctx& ctx, In in, In params, Out out, Saved saved) override;
  void backward_input(const llmrt_call_ctx& ctx, In grad_out, In in, In params, Saved saved, Out grad_in,
                      Out grad_params) override;

 private:
  int64_t channels_, vocab_;
  bool tied_;
  int32_t dtype_;  // activations and weights as the layer receives them
};

}  // namespace llmrt::gpt
