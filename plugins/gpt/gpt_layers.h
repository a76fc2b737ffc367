// The GPT-2 layers as llmrt plugin components: gpt.embedding (token + learned position),
// gpt.block (pre-LayerNorm attention + MLP, Megatron tensor parallel) and gpt.head (final
// LayerNorm, output projection tied to wte or not, mean cross-entropy loss).
// Notation: B batch, T sequence, C d_model, V vocab, N = B*T rows, L the model's block count.
#pragma once

#include "gpt/gpt_common.h"

#include <memory>
#include <string>
#include <type_traits>
#include <vector>

namespace llmrt::gpt {

namespace scratch {
// The GPT layer instances alive in this process (a rank's layers, or a test's), so that a
// stream's workspace is sized once, at its first carve, to the largest workspace_bytes hint
// among them for the call's (batch, seq) — the figure the planner counts per rank — instead of
// growing within step 1 (each growth is a free and an allocation in the middle of a step). Each
// GPT layer holds a LiveLayer as its last member, so it leaves the list before any member its
// cost_hints reads is destroyed.
class LiveLayer {
 public:
  explicit LiveLayer(Layer* layer);
  ~LiveLayer();
  LiveLayer(const LiveLayer&) = delete;
  LiveLayer& operator=(const LiveLayer&) = delete;

 private:
  Layer* layer_;
};
}  // namespace scratch

// The device scratch and cuBLASLt context of the stream a layer instance runs on, in builds with
// CUDA (gpt_cuda.h): sized before the first pass, shared by every GPT layer instance on that
// stream, freed with the last of them. Held by shared_ptr so the CPU-only build needs no definition.
class CudaWorkspace;

// in: tokens (B, T) i32 -> out: x (B, T, C) f32. Params: wte (Vp, C) tied as "wte", wpe (seq_len, C),
// with Vp = vocab_size rounded up to vocab_pad_multiple (rows past vocab_size stay zero).
class Embedding : public Layer {
 public:
  // It saves nothing (backward needs only the tokens, which the host keeps as its input): every
  // recompute mode leaves it as it is, and full recompute never reruns it.
  static constexpr uint32_t kFlags = LLMRT_LAYER_RECOMPUTE_FULL | LLMRT_LAYER_RECOMPUTE_SELECTIVE | LLMRT_LAYER_GRAPH_SAFE;
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
  // The CUDA branch (embedding_cuda.cpp), in builds with CUDA; the tensor counts are checked
  // by forward() and backward_weight() before they dispatch. Each dispatches once on dtype_ to
  // the pass at storage type T (float, bf16 or f16), defined and instantiated in that file.
  void forward_cuda(const llmrt_call_ctx& ctx, In in, In params, Out out);
  void backward_weight_cuda(const llmrt_call_ctx& ctx, In grad_out, In in, Out grad_params);
  template <typename T>
  void forward_cuda_as(const llmrt_call_ctx& ctx, In in, In params, Out out);
  template <typename T>
  void backward_weight_cuda_as(const llmrt_call_ctx& ctx, In grad_out, In in, Out grad_params);

  const llmrt_host_api* host_;  // its op table runs the CPU passes
  int64_t channels_, vocab_, max_seq_;
  // Rows of wte: vocab_ rounded up to the config's vocab_pad_multiple for the GEMMs (llm.c's
  // 50257 -> 50304); ids stay below vocab_.
  int64_t padded_vocab_ = vocab_;
  int32_t dtype_;  // activations and weights as the layer receives them
  std::shared_ptr<CudaWorkspace> workspace_;  // its stream's, on CUDA: tokens uploaded from the host
  scratch::LiveLayer live_{this};  // last: sizes the stream's workspace before step 1 (gpt_scratch.h)
};

// The block's local sizes under tensor parallelism (tp ranks split heads and MLP width).
struct BlockDims {
  int64_t channels;  // C, replicated
  int64_t heads;     // this rank's heads, NH / tp
  int64_t local;     // this rank's attention width C / tp
  int64_t hidden;    // this rank's MLP width 4C / tp
};

// The largest head size (d_model / heads, a multiple of 8) the CUDA attention kernels take
// (kernels_cuda.h's kMaxAttentionHeadSize, which block_cuda.cpp asserts is the same).
inline constexpr int64_t kCudaMaxHeadSize = 128;

// Parameter positions, in param_specs() order.
enum BlockParam : size_t {
  kLn1W, kLn1B, kQkvW, kQkvB, kProjW, kProjB, kLn2W, kLn2B, kFcW, kFcB, kFc2W, kFc2B, kBlockParams
};
inline constexpr const char* kBlockParamNames[kBlockParams] = {
    "ln1_w", "ln1_b", "qkv_w", "qkv_b", "proj_w", "proj_b", "ln2_w", "ln2_b", "fc_w", "fc_b", "fc2_w", "fc2_b"};

// Regions of the saved buffer for one microbatch (see block_layout), activations as `Act`
// (float through SavedRegions' fp32 copies on the CPU, the storage type in place on CUDA),
// statistics fp32.
template <typename Act>
struct BlockSavedOf {
  // forward
  Act *ln1; float *mean1, *rstd1; Act *qkv, *att; float* lse;
  Act *x2, *ln2; float *mean2, *rstd2; Act *fc_pre, *fc_act;
  // backward_input, for backward_weight
  Act *d_x2, *d_fc_pre, *d_qkv, *d_ln1, *d_ln2;
  size_t forward_regions;  // regions [0, forward_regions) are forward's, the rest backward_input's
};
using BlockSaved = BlockSavedOf<float>;

// The block's saved buffer, in order, over SavedRegions (CPU) or DeviceRegions (CUDA); with a
// null base it only counts. Under selective recompute ln1, ln2 and fc_act are not saved (null
// here): forward makes them in scratch and backward_weight recomputes them. Forward fills ln1 (N, C), mean1/rstd1 (N), qkv (N, 3C/tp),
// att (N, C/tp), lse (B, NH/tp, T), x2 (N, C), ln2 (N, C), mean2/rstd2 (N), fc_pre and fc_act
// (N, 4C/tp). backward_input fills what backward_weight needs: d_x2 (N, C) (proj's output
// gradient), d_fc_pre (N, 4C/tp), d_qkv (N, 3C/tp), d_ln1 and d_ln2 (N, C), all-reduced.
// Activations and their gradients are stored at the compute dtype, mean/rstd/lse in f32.
template <typename Regions>
auto block_layout(Regions& r, const BlockDims& dims, int64_t batch, int64_t seq, bool selective = false) {
  using Act = std::remove_pointer_t<decltype(r.activation(0))>;
  const int64_t n = batch * seq, c = dims.channels, l = dims.local, h = dims.hidden;
  BlockSavedOf<Act> s{};
  if (!selective) s.ln1 = r.activation(n * c);
  s.mean1 = r.stat(n), s.rstd1 = r.stat(n);
  s.qkv = r.activation(n * 3 * l), s.att = r.activation(n * l), s.lse = r.stat(n * dims.heads);
  s.x2 = r.activation(n * c);
  if (!selective) s.ln2 = r.activation(n * c);
  s.mean2 = r.stat(n), s.rstd2 = r.stat(n);
  s.fc_pre = r.activation(n * h);
  if (!selective) s.fc_act = r.activation(n * h);
  s.forward_regions = r.taken();
  s.d_x2 = r.activation(n * c), s.d_fc_pre = r.activation(n * h), s.d_qkv = r.activation(n * 3 * l);
  s.d_ln1 = r.activation(n * c), s.d_ln2 = r.activation(n * c);
  return s;
}

// in: x (B, T, C) -> out: y (B, T, C). Params (global shapes; shard dims in block.cpp):
// ln1_w, ln1_b (C); qkv_w (3, C, C); qkv_b (3, C); proj_w (C, C); proj_b (C); ln2_w, ln2_b (C);
// fc_w (4C, C); fc_b (4C); fc2_w (C, 4C); fc2_b (C). Linear weights are (out, in).
// Recompute: full (the host reruns forward) and selective (llmrt_layer_context.recompute): the
// LayerNorm and GELU outputs ln1, ln2 (N, C) and fc_act (N, 4C/tp), cheap to make and big, are
// not saved but remade in backward_weight, the one pass that reads them (CPU and CUDA).
class Block : public Layer {
 public:
  static constexpr uint32_t kFlags = LLMRT_LAYER_RECOMPUTE_FULL | LLMRT_LAYER_RECOMPUTE_SELECTIVE | LLMRT_LAYER_GRAPH_SAFE;
  static std::vector<ConfigKey> config_keys();
  explicit Block(const ComponentArgs& args);
  std::vector<llmrt_tensor> infer_shapes(In in) override;
  std::vector<ParamSpec> param_specs() override;
  std::string supports(const llmrt_device& device, llmrt_dtype dtype) override;
  llmrt_cost_hints cost_hints(int64_t batch, int64_t seq) override;
  size_t saved_bytes(int64_t batch, int64_t seq) override;
  void forward(const llmrt_call_ctx& ctx, In in, In params, Out out, Saved saved) override;
  void backward_input(const llmrt_call_ctx& ctx, In grad_out, In in, In params, Saved saved, Out grad_in,
                      Out grad_params) override;
  void backward_weight(const llmrt_call_ctx& ctx, In grad_out, In in, In params, Saved saved,
                       Out grad_params) override;

  const BlockDims& dims() const { return dims_; }
  int64_t local_numel(size_t param) const;  // elements of this rank's slice of parameter `param`

 private:
  // block_layout() of a buffer that must be large enough (SavedRegions or DeviceRegions).
  template <typename Regions>
  auto saved_regions(Regions& regions, Saved saved, int64_t batch, int64_t seq) const {
    auto s = block_layout(regions, dims_, batch, seq, selective_);
    check_saved(saved, regions.bytes(), "gpt.block");
    return s;
  }
  std::vector<const float*> param_pointers(Fp32Views& views, In params) const;
  std::vector<float*> grad_pointers(Out grads) const;
  // Selective recompute on the CPU: ln1, ln2 (N, C) and fc_act (N, 4C/tp) in the calling
  // thread's scratch, one grow-only buffer shared by every block (calls on a thread are
  // sequential, and the contents never outlive a call): what selective saves is not spent again
  // per layer.
  void point_selective(BlockSaved& s, int64_t rows) const;

  // The CUDA branch (block_cuda.cpp, block_backward_cuda.cpp), in builds with CUDA: each
  // dispatches once on dtype_ to its *_as<T> pass (T = float, bf16 or f16), defined and
  // instantiated in those files.
  void forward_cuda(const llmrt_call_ctx& ctx, In in, In params, Out out, Saved saved);
  void backward_input_cuda(const llmrt_call_ctx& ctx, In grad_out, In in, In params, Saved saved, Out grad_in);
  void backward_weight_cuda(const llmrt_call_ctx& ctx, In grad_out, In in, In params, Saved saved,
                            Out grad_params);
  template <typename T>
  void forward_cuda_as(const llmrt_call_ctx& ctx, In in, In params, Out out, Saved saved);
  template <typename T>
  void backward_input_cuda_as(const llmrt_call_ctx& ctx, In grad_out, In in, In params, Saved saved, Out grad_in);
  template <typename T>
  void backward_weight_cuda_as(const llmrt_call_ctx& ctx, In grad_out, In in, In params, Saved saved,
                               Out grad_params);

  const llmrt_host_api* host_;
  int64_t heads_total_, n_layer_, tp_;
  int32_t dtype_;  // activations and weights as the layer receives them
  bool selective_;  // llmrt_layer_context.recompute = SELECTIVE
  BlockDims dims_;
  std::shared_ptr<CudaWorkspace> workspace_;  // its stream's, on CUDA: partial sums and branch gradients
  scratch::LiveLayer live_{this};  // last: sizes the stream's workspace before step 1 (gpt_scratch.h)
};

// The head's saved buffer: lnf (N, C) at the compute dtype; mean, rstd (N) of the final
// LayerNorm and lse (N) of the logits in f32.
template <typename Act>
struct HeadSavedOf {
  Act* lnf;
  float *mean, *rstd, *lse;
};
template <typename Regions>
auto head_layout(Regions& r, int64_t rows, int64_t channels) {
  HeadSavedOf<std::remove_pointer_t<decltype(r.activation(0))>> s{};
  s.lnf = r.activation(rows * channels), s.mean = r.stat(rows), s.rstd = r.stat(rows), s.lse = r.stat(rows);
  return s;
}

// in: x (B, T, C), targets (B, T) i32 -> out: loss () f32, the mean over B*T. Params: lnf_w,
// lnf_b (C), then wte (Vp, C) tied as "wte", or lm_head_w (Vp, C) when untied (Vp: vocab_size
// rounded up to vocab_pad_multiple; the loss is over the first V logits). Called with x alone
// (inference, CPU only): out: logits (B, T, V) f32, the padded columns left out. Backward is
// fused (weight gradients in backward_input): the (N, Vp) logits are recomputed, never saved.
// Full recompute: its forward is repeatable (no RNG), so the host may drop lnf and the stats.
class Head : public Layer {
 public:
  static constexpr uint32_t kFlags = LLMRT_LAYER_FUSED_BACKWARD | LLMRT_LAYER_RECOMPUTE_FULL | LLMRT_LAYER_GRAPH_SAFE;
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
  void forward_logits(const llmrt_call_ctx& ctx, In in, In params, Out out, Saved saved);
  // The CUDA branch (head_cuda.cpp), in builds with CUDA; the tensor counts are checked by
  // forward() and backward_input() before they dispatch, each once on dtype_ to its *_as<T>.
  void forward_cuda(const llmrt_call_ctx& ctx, In in, In params, Out out, Saved saved);
  void backward_cuda(const llmrt_call_ctx& ctx, In grad_out, In in, In params, Saved saved, Out grad_in,
                     Out grad_params);
  template <typename T>
  void forward_cuda_as(const llmrt_call_ctx& ctx, In in, In params, Out out, Saved saved);
  template <typename T>
  void backward_cuda_as(const llmrt_call_ctx& ctx, In grad_out, In in, In params, Saved saved, Out grad_in,
                        Out grad_params);

  const llmrt_host_api* host_;  // its op table runs the CPU passes
  int64_t channels_, vocab_;
  // Rows of the projection and columns of the logits: vocab_ rounded up for the GEMMs; the loss
  // and the sampler see only the first vocab_ columns.
  int64_t padded_vocab_ = vocab_;
  bool tied_;
  int32_t dtype_;  // activations and weights as the layer receives them
  std::shared_ptr<CudaWorkspace> workspace_;  // its stream's, on CUDA: the (N, Vp) logits, row scratch
  scratch::LiveLayer live_{this};  // last: sizes the stream's workspace before step 1 (gpt_scratch.h)
};

}  // namespace llmrt::gpt
