// The op table (llmrt/plugin_ops.h) for C++ layers: one Ops object per compute call, bound to the
// call's context, whose methods throw PluginError (with the host's message and code) where the
// C entry returns a status. Header-only; nothing here links llmrt.
//   llmrt::Ops ops(host_, ctx);
//   ops.linear_forward(out, x, w, bias, rows, in_features, out_features);
// Shapes and contracts are the C struct's (plugin_ops.h); the convenience methods are f32 (the
// CPU's dtype), and run(op, args) takes any args struct for other dtypes or appended fields.
#pragma once

#include <llmrt/plugin.h>
#include <llmrt/plugin_support.hpp>

#include <cstdint>
#include <string>

namespace llmrt {
inline namespace plugin_v1 {

class Ops {
 public:
  // host: the table given at create (lives as long as the process); ctx: the pass's context.
  Ops(const llmrt_host_api* host, const llmrt_call_ctx& ctx) : host_(host), ctx_(&ctx) { require(host); }
  // Throws UNIMPLEMENTED unless `host` has the table: call it in a layer's constructor so an
  // older host refuses the layer at create (`llmrt check`), not at its first forward.
  static void require(const llmrt_host_api* host) {
    if (host == nullptr || !LLMRT_HAS_FIELD(host, llmrt_host_api, ops) || host->ops == nullptr) {
      throw PluginError("the host has no op table (it is older than llmrt ABI 1.1)", LLMRT_UNIMPLEMENTED);
    }
  }
  const llmrt_ops& table() const { return *host_->ops; }

  // Calls one entry with a size-prefixed args struct (struct_size filled here); throws on error.
  template <typename Args>
  void run(llmrt_status* (*llmrt_ops::*slot)(const llmrt_call_ctx*, const Args*), Args args) const {
    args.struct_size = sizeof(Args);
    check(((*host_->ops).*slot)(ctx_, &args));
  }

  // out (N, OC) = in (N, C) @ weight (OC, C)^T + bias (OC) (bias may be null)
  void linear_forward(float* out, const float* in, const float* weight, const float* bias, int64_t rows,
                      int64_t in_features, int64_t out_features) const {
    run(&llmrt_ops::linear_forward, linear(rows, in_features, out_features, in, weight, bias, out));
  }
  // d_in (N, C) += d_out (N, OC) @ weight (OC, C)
  void linear_backward_input(float* d_in, const float* d_out, const float* weight, int64_t rows, int64_t in_features,
                             int64_t out_features) const {
    llmrt_linear_args a = linear(rows, in_features, out_features, nullptr, weight, nullptr, nullptr);
    a.d_out = d_out, a.d_in = d_in;
    run(&llmrt_ops::linear_backward_input, a);
  }
  // d_weight (OC, C) += d_out^T @ in; d_bias (OC) += column sums of d_out (or null)
  void linear_backward_weight(float* d_weight, float* d_bias, const float* d_out, const float* in, int64_t rows,
                              int64_t in_features, int64_t out_features) const {
    llmrt_linear_args a = linear(rows, in_features, out_features, in, nullptr, nullptr, nullptr);
    a.d_out = d_out, a.d_weight = d_weight, a.d_bias = d_bias;
    run(&llmrt_ops::linear_backward_weight, a);
  }

  // out (n) = f(in); d_in (n) += f'(in) * d_out
  void activation_forward(llmrt_activation kind, float* out, const float* in, int64_t count) const {
    run(&llmrt_ops::activation_forward, llmrt_activation_args{0, LLMRT_DTYPE_F32, static_cast<int32_t>(kind), count, in, out, nullptr, nullptr});
  }
  void activation_backward(llmrt_activation kind, float* d_in, const float* in, const float* d_out,
                           int64_t count) const {
    run(&llmrt_ops::activation_backward, llmrt_activation_args{0, LLMRT_DTYPE_F32, static_cast<int32_t>(kind), count, in, nullptr, d_out, d_in});
  }

  // out = a op b (see llmrt_elementwise_kind); bias/cols for LLMRT_EW_ADD_BIAS
  void elementwise(llmrt_elementwise_kind kind, float* out, const float* a, const float* b, int64_t count,
                   float alpha = 1.0f, const float* bias = nullptr, int64_t cols = 0) const {
    run(&llmrt_ops::elementwise, llmrt_elementwise_args{0, LLMRT_DTYPE_F32, static_cast<int32_t>(kind), count, cols, alpha, 0, a, b, bias, out});
  }

  // qkv (B, T, 3C) -> out (B, T, C), lse (B, NH, T); d_qkv (B, T, 3C) += from d_out, qkv, out, lse
  void attention_forward(float* out, float* lse, const float* qkv, int64_t batch, int64_t seq, int64_t channels,
                         int64_t heads) const {
    run(&llmrt_ops::attention_forward, attention(batch, seq, channels, heads, qkv, out, lse, nullptr, nullptr));
  }
  void attention_backward(float* d_qkv, const float* d_out, const float* qkv, const float* out, const float* lse,
                          int64_t batch, int64_t seq, int64_t channels, int64_t heads) const {
    run(&llmrt_ops::attention_backward,
        attention(batch, seq, channels, heads, qkv, const_cast<float*>(out), const_cast<float*>(lse), d_out, d_qkv));
  }

  // LayerNorm over the last dim of (N, C): out, mean, rstd (N) from in, weight, bias (C)
  void layernorm_forward(float* out, float* mean, float* rstd, const float* in, const float* weight,
                         const float* bias, int64_t rows, int64_t channels) const {
    run(&llmrt_ops::layernorm_forward, norm(rows, channels, in, weight, bias, out, mean, rstd));
  }
  // the forward's out again from its saved mean and rstd (recompute)
  void layernorm_apply(float* out, const float* in, const float* mean, const float* rstd, const float* weight,
                       const float* bias, int64_t rows, int64_t channels) const {
    run(&llmrt_ops::layernorm_apply,
        norm(rows, channels, in, weight, bias, out, const_cast<float*>(mean), const_cast<float*>(rstd)));
  }
  // d_in (N, C) += or null; d_weight, d_bias (C) += or both null
  void layernorm_backward(float* d_in, float* d_weight, float* d_bias, const float* d_out, const float* in,
                          const float* weight, const float* mean, const float* rstd, int64_t rows,
                          int64_t channels) const {
    llmrt_norm_args a = norm(rows, channels, in, weight, nullptr, nullptr, const_cast<float*>(mean),
                             const_cast<float*>(rstd));
    a.d_out = d_out, a.d_in = d_in, a.d_weight = d_weight, a.d_bias = d_bias;
    run(&llmrt_ops::layernorm_backward, a);
  }
  // RMSNorm: out (N, C) = in * rstd * weight, rstd (N) written; eps 0 means 1e-5
  void rmsnorm_forward(float* out, float* rstd, const float* in, const float* weight, int64_t rows, int64_t channels,
                       float eps = 0.0f) const {
    llmrt_norm_args a = norm(rows, channels, in, weight, nullptr, out, nullptr, rstd);
    a.eps = eps;
    run(&llmrt_ops::rmsnorm_forward, a);
  }
  // d_in (N, C) += or null; d_weight (C) += or null
  void rmsnorm_backward(float* d_in, float* d_weight, const float* d_out, const float* in, const float* weight,
                        const float* rstd, int64_t rows, int64_t channels) const {
    llmrt_norm_args a = norm(rows, channels, in, weight, nullptr, nullptr, nullptr, const_cast<float*>(rstd));
    a.d_out = d_out, a.d_in = d_in, a.d_weight = d_weight;
    run(&llmrt_ops::rmsnorm_backward, a);
  }

  // softmax over the last dim of (rows, cols); d_in += out * (d_out - rowsum(d_out * out))
  void softmax_forward(float* out, const float* in, int64_t rows, int64_t cols) const {
    run(&llmrt_ops::softmax_forward, llmrt_softmax_args{0, LLMRT_DTYPE_F32, 0, rows, cols, in, out, nullptr, nullptr});
  }
  void softmax_backward(float* d_in, const float* d_out, const float* out, int64_t rows, int64_t cols) const {
    run(&llmrt_ops::softmax_backward,
        llmrt_softmax_args{0, LLMRT_DTYPE_F32, 0, rows, cols, nullptr, const_cast<float*>(out), d_out, d_in});
  }

  // out (cols) += column sums of in (rows, cols)
  void sum_rows(float* out, const float* in, int64_t rows, int64_t cols) const {
    run(&llmrt_ops::reduce, llmrt_reduce_args{0, LLMRT_DTYPE_F32, LLMRT_SUM_ROWS, rows, cols, in, out, nullptr});
  }
  // sum of in (count) or of its squares, in double
  double sum(const float* in, int64_t count, bool squares = false) const {
    double total = 0;
    run(&llmrt_ops::reduce, llmrt_reduce_args{0, LLMRT_DTYPE_F32, squares ? LLMRT_SUM_SQUARES : LLMRT_SUM_ALL, 1,
                                              count, in, nullptr, &total});
    return total;
  }

  // out (B, T, C) = table (V, C)[tokens (B, T)] + positions (maxT, C)[t] (positions may be null)
  void embedding_forward(float* out, const int32_t* tokens, const float* table, const float* positions, int64_t batch,
                         int64_t seq, int64_t channels, int64_t vocab) const {
    llmrt_embedding_args a = embedding(batch, seq, channels, vocab, tokens);
    a.table = table, a.positions = positions, a.out = out;
    run(&llmrt_ops::embedding_forward, a);
  }
  // d_table (V, C) +=, d_positions (maxT, C) += (or null) from d_out (B, T, C)
  void embedding_backward(float* d_table, float* d_positions, const float* d_out, const int32_t* tokens, int64_t batch,
                          int64_t seq, int64_t channels, int64_t vocab) const {
    llmrt_embedding_args a = embedding(batch, seq, channels, vocab, tokens);
    a.d_out = d_out, a.d_table = d_table, a.d_positions = d_positions;
    run(&llmrt_ops::embedding_backward, a);
  }

  // losses, lse (N) from logits (N, Vp), targets (N) in [0, V); returns the mean loss over the
  // first V columns (padded_vocab Vp >= V; 0 = V)
  float cross_entropy_forward(float* losses, float* lse, const float* logits, const int32_t* targets, int64_t rows,
                              int64_t vocab, int64_t padded_vocab = 0) const {
    float mean = 0;
    run(&llmrt_ops::cross_entropy_forward, llmrt_cross_entropy_args{0, LLMRT_DTYPE_F32, 0.0f, rows, vocab, logits,
                                                                    targets, losses, lse, &mean, nullptr,
                                                                    padded_vocab});
    return mean;
  }
  // d_logits (N, Vp) = (softmax - onehot) / N * d_loss on the first V columns, 0 on the rest,
  // WRITTEN; may alias logits
  void cross_entropy_backward(float* d_logits, const float* logits, const float* lse, const int32_t* targets,
                              float d_loss, int64_t rows, int64_t vocab, int64_t padded_vocab = 0) const {
    run(&llmrt_ops::cross_entropy_backward,
        llmrt_cross_entropy_args{0, LLMRT_DTYPE_F32, d_loss, rows, vocab, logits, targets, nullptr,
                                 const_cast<float*>(lse), nullptr, d_logits, padded_vocab});
  }

  // The all-reduce of a tensor-parallel partial sum over ctx's group (a group of one copies).
  void tp_sum(const float* partial, float* total, int64_t count) const {
    check(host_->all_reduce(ctx_->tp_comm, partial, total, static_cast<size_t>(count), LLMRT_DTYPE_F32,
                            LLMRT_REDUCE_SUM, ctx_->stream));
  }

  // Turns a status into a PluginError carrying its message and code (frees the status).
  void check(llmrt_status* status) const {
    if (status == nullptr) return;
    PluginError error(host_->status_message(status), host_->status_code(status));
    host_->status_free(status);
    throw error;
  }

 private:
  static llmrt_attention_args attention(int64_t batch, int64_t seq, int64_t channels, int64_t heads, const float* qkv,
                                        float* out, float* lse, const float* d_out, float* d_qkv) {
    llmrt_attention_args a{};
    a.dtype = LLMRT_DTYPE_F32;
    a.batch = batch, a.seq = seq, a.channels = channels, a.heads = heads;
    a.qkv = qkv, a.out = out, a.lse = lse, a.d_out = d_out, a.d_qkv = d_qkv;
    return a;
  }
  static llmrt_norm_args norm(int64_t rows, int64_t channels, const float* in, const float* weight, const float* bias,
                              float* out, float* mean, float* rstd) {
    llmrt_norm_args a{};
    a.dtype = LLMRT_DTYPE_F32;
    a.rows = rows, a.channels = channels;
    a.in = in, a.weight = weight, a.bias = bias, a.out = out, a.mean = mean, a.rstd = rstd;
    return a;
  }
  static llmrt_embedding_args embedding(int64_t batch, int64_t seq, int64_t channels, int64_t vocab,
                                        const int32_t* tokens) {
    llmrt_embedding_args a{};
    a.dtype = LLMRT_DTYPE_F32;
    a.batch = batch, a.seq = seq, a.channels = channels, a.vocab = vocab, a.tokens = tokens;
    return a;
  }
  static llmrt_linear_args linear(int64_t rows, int64_t in_features, int64_t out_features, const float* in,
                                  const float* weight, const float* bias, float* out) {
    llmrt_linear_args a{};
    a.dtype = LLMRT_DTYPE_F32;
    a.rows = rows, a.in_features = in_features, a.out_features = out_features;
    a.in = in, a.weight = weight, a.bias = bias, a.out = out;
    return a;
  }

  const llmrt_host_api* host_;
  const llmrt_call_ctx* ctx_;
};

}  // namespace plugin_v1
}  // namespace llmrt
