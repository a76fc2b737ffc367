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
  Ops(const llmrt_host_api* host, const llmrt_call_ctx& ctx) : host_(host), ctx_(&ctx) {
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
