// The op table's entries: each checks its arguments, picks the backend from ctx->device and calls
// the project's kernel for it, the very function the GPT layers called before the table existed
// (so a layer on the table runs at a built-in layer's speed, and the built-in layers give the
// same bits through it). The CPU is fp32; CUDA (host_ops_cuda.cpp) is f32/bf16/f16 and unrun here.
#include "ops/host_ops.h"

#include "ops/host_ops_entry.h"

#include <algorithm>
#include <string>

#include "cpu/kernels_cpu.h"

namespace llmrt {
namespace host_ops {

namespace {
namespace cpu = kernels::cpu;

// ---------------------------------------------------------------- GEMM and linear
llmrt_status* gemm(const llmrt_call_ctx* ctx, const llmrt_gemm_args* args) {
  return entry("gemm", ctx, args, [](const Check& c, [[maybe_unused]] const llmrt_call_ctx& x, const llmrt_gemm_args& a, [[maybe_unused]] Backend b) {
    if (b == Backend::kCpu) {
      c.cpu_f32(a.dtype_ab);
      c.cpu_f32(a.dtype_c);
    }
    const int m = c.dim(a.m, "m"), n = c.dim(a.n, "n"), k = c.dim(a.k, "k");
    const int batch = a.batch == 0 ? 1 : c.dim(a.batch, "batch");
    c.require(a.trans_a == LLMRT_NO_TRANS || a.trans_a == LLMRT_TRANS, "trans_a is not 0 or 1");
    c.require(a.trans_b == LLMRT_NO_TRANS || a.trans_b == LLMRT_TRANS, "trans_b is not 0 or 1");
    const int a_cols = a.trans_a ? m : k, b_cols = a.trans_b ? k : n;
    c.require(a.lda >= std::max(1, a_cols), "lda = " + std::to_string(a.lda) + " < " + std::to_string(a_cols));
    c.require(a.ldb >= std::max(1, b_cols), "ldb = " + std::to_string(a.ldb) + " < " + std::to_string(b_cols));
    c.require(a.ldc >= std::max(1, n), "ldc = " + std::to_string(a.ldc) + " < n = " + std::to_string(n));
    c.require(a.stride_a >= 0 && a.stride_b >= 0 && a.stride_c >= 0, "a stride is negative");
    c.dim(a.lda, "lda"), c.dim(a.ldb, "ldb"), c.dim(a.ldc, "ldc");
    if (std::int64_t(m) * n == 0) return;
    c.ptr(a.c, "c");
    if (k > 0) c.ptr(a.a, "a"), c.ptr(a.b, "b");
#if LLMRT_HAVE_CUDA
    if (b == Backend::kCuda) return cuda::gemm(x, a);
#endif
    cpu::gemm_strided_batched(a.trans_a != 0, a.trans_b != 0, m, n, k, a.alpha, static_cast<const float*>(a.a),
                              int(a.lda), a.stride_a, static_cast<const float*>(a.b), int(a.ldb), a.stride_b, a.beta,
                              static_cast<float*>(a.c), int(a.ldc), a.stride_c, batch);
  });
}

struct LinearDims {
  int n, c, oc;
};
LinearDims linear_dims(const Check& c, const llmrt_linear_args& a) {
  return {c.dim(a.rows, "rows"), c.dim(a.in_features, "in_features"), c.dim(a.out_features, "out_features")};
}

llmrt_status* linear_forward(const llmrt_call_ctx* ctx, const llmrt_linear_args* args) {
  return entry("linear_forward", ctx, args, [](const Check& c, [[maybe_unused]] const llmrt_call_ctx& x, const llmrt_linear_args& a, [[maybe_unused]] Backend b) {
    const LinearDims d = linear_dims(c, a);
    c.ptr(a.in, "in"), c.ptr(a.weight, "weight"), c.ptr(a.out, "out");
#if LLMRT_HAVE_CUDA
    if (b == Backend::kCuda) return cuda::linear_forward(x, a);
#endif
    c.cpu_f32(a.dtype);
    cpu::matmul_forward(static_cast<float*>(a.out), static_cast<const float*>(a.in), static_cast<const float*>(a.weight),
                        static_cast<const float*>(a.bias), d.n, d.c, d.oc);
  });
}

llmrt_status* linear_backward_input(const llmrt_call_ctx* ctx, const llmrt_linear_args* args) {
  return entry("linear_backward_input", ctx, args, [](const Check& c, [[maybe_unused]] const llmrt_call_ctx& x, const llmrt_linear_args& a, [[maybe_unused]] Backend b) {
    const LinearDims d = linear_dims(c, a);
    c.ptr(a.d_out, "d_out"), c.ptr(a.weight, "weight"), c.ptr(a.d_in, "d_in");
#if LLMRT_HAVE_CUDA
    if (b == Backend::kCuda) return cuda::linear_backward_input(x, a);
#endif
    c.cpu_f32(a.dtype);
    cpu::matmul_backward_input(static_cast<float*>(a.d_in), static_cast<const float*>(a.d_out),
                               static_cast<const float*>(a.weight), d.n, d.c, d.oc);
  });
}

llmrt_status* linear_backward_weight(const llmrt_call_ctx* ctx, const llmrt_linear_args* args) {
  return entry("linear_backward_weight", ctx, args, [](const Check& c, [[maybe_unused]] const llmrt_call_ctx& x, const llmrt_linear_args& a, [[maybe_unused]] Backend b) {
    const LinearDims d = linear_dims(c, a);
    c.ptr(a.d_out, "d_out"), c.ptr(a.in, "in"), c.ptr(a.d_weight, "d_weight");
#if LLMRT_HAVE_CUDA
    if (b == Backend::kCuda) return cuda::linear_backward_weight(x, a);
#endif
    c.cpu_f32(a.dtype);
    cpu::matmul_backward_weight(a.d_weight, a.d_bias, static_cast<const float*>(a.d_out), static_cast<const float*>(a.in),
                                d.n, d.c, d.oc);
  });
}

// ---------------------------------------------------------------- attention
void attention_shape(const Check& c, const llmrt_attention_args& a) {
  c.dim(a.batch, "batch"), c.dim(a.seq, "seq"), c.dim(a.channels, "channels"), c.dim(a.heads, "heads");
  c.require(a.heads > 0 && a.channels % a.heads == 0,
            "heads = " + std::to_string(a.heads) + " does not divide channels = " + std::to_string(a.channels));
  c.dim_product({a.batch, a.seq, 3, a.channels}, "batch * seq * 3 * channels");
  c.ptr(a.qkv, "qkv"), c.ptr(a.out, "out"), c.ptr(a.lse, "lse");
}

llmrt_status* attention_forward(const llmrt_call_ctx* ctx, const llmrt_attention_args* args) {
  return entry("attention_forward", ctx, args, [](const Check& c, [[maybe_unused]] const llmrt_call_ctx& x, const llmrt_attention_args& a, [[maybe_unused]] Backend b) {
    attention_shape(c, a);
#if LLMRT_HAVE_CUDA
    if (b == Backend::kCuda) return cuda::attention_forward(x, a);
#endif
    c.cpu_f32(a.dtype);
    cpu::attention_forward(static_cast<float*>(a.out), a.lse, static_cast<const float*>(a.qkv), int(a.batch),
                           int(a.seq), int(a.channels), int(a.heads));
  });
}

llmrt_status* attention_backward(const llmrt_call_ctx* ctx, const llmrt_attention_args* args) {
  return entry("attention_backward", ctx, args, [](const Check& c, [[maybe_unused]] const llmrt_call_ctx& x, const llmrt_attention_args& a, [[maybe_unused]] Backend b) {
    attention_shape(c, a);
    c.ptr(a.d_out, "d_out"), c.ptr(a.d_qkv, "d_qkv");
#if LLMRT_HAVE_CUDA
    if (b == Backend::kCuda) return cuda::attention_backward(x, a);
#endif
    c.cpu_f32(a.dtype);
    cpu::attention_backward(static_cast<float*>(a.d_qkv), static_cast<const float*>(a.d_out),
                            static_cast<const float*>(a.qkv), static_cast<const float*>(a.out), a.lse, int(a.batch),
                            int(a.seq), int(a.channels), int(a.heads));
  });
}

// ---------------------------------------------------------------- embedding and loss
void embedding_shape(const Check& c, const llmrt_embedding_args& a) {
  c.dim(a.batch, "batch"), c.dim(a.seq, "seq"), c.dim(a.channels, "channels"), c.dim(a.vocab, "vocab");
  c.dim_product({a.batch, a.seq, a.channels}, "batch * seq * channels");
  c.ptr(a.tokens, "tokens");
}
// Token ids are the user's data: one out of range is named, never read past the table.
void check_tokens(const Check& c, const llmrt_call_ctx& ctx, const llmrt_embedding_args& a) {
  if (ctx.device.type != LLMRT_DEVICE_CPU) return;  // device memory: the kernel's contract
  for (std::int64_t i = 0; i < a.batch * a.seq; ++i) {
    if (a.tokens[i] < 0 || a.tokens[i] >= a.vocab) {
      c.require(false, "tokens[" + std::to_string(i) + "] = " + std::to_string(a.tokens[i]) + " is not in [0, vocab = " +
                           std::to_string(a.vocab) + ")");
    }
  }
}

}  // namespace

llmrt_status* embedding_forward(const llmrt_call_ctx* ctx, const llmrt_embedding_args* args) {
  return entry("embedding_forward", ctx, args, [](const Check& c, [[maybe_unused]] const llmrt_call_ctx& x, const llmrt_embedding_args& a, [[maybe_unused]] Backend b) {
    embedding_shape(c, a);
    c.ptr(a.table, "table"), c.ptr(a.out, "out");
    check_tokens(c, x, a);
#if LLMRT_HAVE_CUDA
    if (b == Backend::kCuda) return cuda::embedding_forward(x, a);
#endif
    c.cpu_f32(a.dtype);
    const int bs = int(a.batch), t = int(a.seq), ch = int(a.channels);
    if (a.positions != nullptr) {
      return cpu::encoder_forward(static_cast<float*>(a.out), a.tokens, static_cast<const float*>(a.table),
                                  static_cast<const float*>(a.positions), bs, t, ch);
    }
    // A plain gather (no learned positions: RoPE models).
    const float* table = static_cast<const float*>(a.table);
    float* out = static_cast<float*>(a.out);
    for (std::int64_t i = 0; i < a.batch * a.seq; ++i) {
      std::copy_n(table + std::int64_t(a.tokens[i]) * ch, ch, out + i * ch);
    }
  });
}

llmrt_status* embedding_backward(const llmrt_call_ctx* ctx, const llmrt_embedding_args* args) {
  return entry("embedding_backward", ctx, args, [](const Check& c, [[maybe_unused]] const llmrt_call_ctx& x, const llmrt_embedding_args& a, [[maybe_unused]] Backend b) {
    embedding_shape(c, a);
    c.ptr(a.d_out, "d_out"), c.ptr(a.d_table, "d_table");
    check_tokens(c, x, a);
#if LLMRT_HAVE_CUDA
    if (b == Backend::kCuda) return cuda::embedding_backward(x, a);
#endif
    c.cpu_f32(a.dtype);
    const int ch = int(a.channels);
    if (a.d_positions != nullptr) {
      return cpu::encoder_backward(a.d_table, a.d_positions, static_cast<const float*>(a.d_out), a.tokens, int(a.batch),
                                   int(a.seq), ch);
    }
    const float* d_out = static_cast<const float*>(a.d_out);
    for (std::int64_t i = 0; i < a.batch * a.seq; ++i) {
      cpu::residual_accumulate(a.d_table + std::int64_t(a.tokens[i]) * ch, d_out + i * ch, size_t(ch));
    }
  });
}

namespace {
// The checks both passes share; returns Vp, the row stride of the logits (padded_vocab, 0 = V).
int cross_entropy_shape(const Check& c, const llmrt_cross_entropy_args& a) {
  c.dim(a.rows, "rows"), c.dim(a.vocab, "vocab");
  c.require(a.vocab > 0, "vocab is 0");
  c.require(a.rows > 0, "rows is 0 (the mean loss of no rows is undefined)");
  c.ptr(a.targets, "targets"), c.ptr(a.lse, "lse");
  const std::int64_t padded = a.padded_vocab == 0 ? a.vocab : a.padded_vocab;
  c.require(padded >= a.vocab, "padded_vocab = " + std::to_string(a.padded_vocab) + " is below vocab = " +
                                   std::to_string(a.vocab) + " (the row stride of the logits; 0 = vocab)");
  c.dim_product({a.rows, padded}, "rows * padded_vocab");
  return int(padded);
}

// Every target is a class of the first V columns: the kernels index a row with it.
void check_targets(const Check& c, const llmrt_cross_entropy_args& a) {
  for (std::int64_t i = 0; i < a.rows; ++i) {
    c.require(a.targets[i] >= 0 && a.targets[i] < a.vocab, "targets[" + std::to_string(i) + "] = " +
                                                              std::to_string(a.targets[i]) + " is not in [0, vocab)");
  }
}


}  // namespace

llmrt_status* cross_entropy_forward(const llmrt_call_ctx* ctx, const llmrt_cross_entropy_args* args) {
  return entry("cross_entropy_forward", ctx, args, [](const Check& c, [[maybe_unused]] const llmrt_call_ctx& x, const llmrt_cross_entropy_args& a, [[maybe_unused]] Backend b) {
    const int padded = cross_entropy_shape(c, a);
    c.ptr(a.logits, "logits"), c.ptr(a.losses, "losses");
#if LLMRT_HAVE_CUDA
    if (b == Backend::kCuda) {
      return cuda::cross_entropy_forward(x, a);
    }
#endif
    c.cpu_f32(a.dtype);
    check_targets(c, a);
    const float mean = cpu::crossentropy_forward(a.losses, a.lse, static_cast<const float*>(a.logits), a.targets,
                                                 int(a.rows), int(a.vocab), padded);
    if (a.mean_loss != nullptr) *a.mean_loss = mean;
  });
}

llmrt_status* cross_entropy_backward(const llmrt_call_ctx* ctx, const llmrt_cross_entropy_args* args) {
  return entry("cross_entropy_backward", ctx, args, [](const Check& c, [[maybe_unused]] const llmrt_call_ctx& x, const llmrt_cross_entropy_args& a, [[maybe_unused]] Backend b) {
    const int padded = cross_entropy_shape(c, a);
    c.ptr(a.logits, "logits"), c.ptr(a.d_logits, "d_logits");
#if LLMRT_HAVE_CUDA
    if (b == Backend::kCuda) {
      return cuda::cross_entropy_backward(x, a);
    }
#endif
    c.cpu_f32(a.dtype);
    check_targets(c, a);  // the kernel writes d_logits at each target
    cpu::crossentropy_backward(static_cast<float*>(a.d_logits), static_cast<const float*>(a.logits), a.lse, a.targets,
                               a.d_loss, int(a.rows), int(a.vocab), padded);
  });
}

}  // namespace host_ops

const llmrt_ops* plugin_ops_table() {
  using namespace host_ops;
  static const llmrt_ops table = [] {
    llmrt_ops t{};
    t.struct_size = sizeof(llmrt_ops);
    t.gemm = &gemm;
    t.linear_forward = &linear_forward;
    t.linear_backward_input = &linear_backward_input;
    t.linear_backward_weight = &linear_backward_weight;
    t.attention_forward = &attention_forward;
    t.attention_backward = &attention_backward;
    t.layernorm_forward = &layernorm_forward;
    t.layernorm_apply = &layernorm_apply;
    t.layernorm_backward = &layernorm_backward;
    t.rmsnorm_forward = &rmsnorm_forward;
    t.rmsnorm_backward = &rmsnorm_backward;
    t.activation_forward = &activation_forward;
    t.activation_backward = &activation_backward;
    t.softmax_forward = &softmax_forward;
    t.softmax_backward = &softmax_backward;
    t.elementwise = &elementwise;
    t.reduce = &reduce;
    t.cast = &cast;
    t.random = &random;
    t.embedding_forward = &embedding_forward;
    t.embedding_backward = &embedding_backward;
    t.cross_entropy_forward = &cross_entropy_forward;
    t.cross_entropy_backward = &cross_entropy_backward;
    return t;
  }();
  return &table;
}

}  // namespace llmrt
