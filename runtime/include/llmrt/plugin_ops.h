/* llmrt plugin C ABI, part 3: the op table (llmrt_host_api.ops, ABI minor 1). Compute a layer
 * reaches through the host, so a third party's layer runs the same kernels as the built-in GPT
 * layers, on the call's device and stream, without linking llmrt. Pure C99; rules in plugin.h.
 *
 * Conventions, shared by every op (they are those of the project's kernels):
 *  - Every op takes the call's llmrt_call_ctx (device and stream of the pass it runs in) and one
 *    size-prefixed argument struct of its family; a later minor appends fields to the struct
 *    (zero-filled by a C99 designated initialiser, a zero field keeps today's meaning).
 *  - Pointers are device memory of ctx->device (host memory on the CPU), contiguous and
 *    row-major unless the struct gives strides. Outputs must not alias inputs unless said.
 *  - `dtype` is the llmrt_dtype of the activations an op reads and writes. Statistics (mean,
 *    rstd, lse), parameter gradients and reductions are always f32.
 *  - Forward ops overwrite their outputs; backward ops ADD (+=) into every gradient they write
 *    (the one exception, cross_entropy_backward, writes).
 *  - A device or dtype the build has no kernel for returns LLMRT_UNIMPLEMENTED whose message
 *    names the op ("ops.rmsnorm_forward: dtype bf16 on cpu: no kernel"); a malformed call (NULL
 *    pointer, negative size, unknown kind) returns LLMRT_INVALID_ARGUMENT naming the op and the
 *    field. The status is the caller's (free it with host->status_free).
 *  - On the CPU every op is fp32 (the GPT layers widen bf16/f16 storage to fp32 and back,
 *    llmrt/fp32_views.hpp); the cast op moves between the three float dtypes everywhere.
 *  B batch, T time, C channels, NH heads, V vocab, N rows (B*T). docs/plugins.md "The op table"
 *  lists each op with its shapes, dtypes and devices. */
#ifndef LLMRT_PLUGIN_OPS_H_
#define LLMRT_PLUGIN_OPS_H_

#include "llmrt/plugin_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- GEMM */
typedef enum llmrt_transpose { LLMRT_NO_TRANS = 0, LLMRT_TRANS = 1 } llmrt_transpose;

/* Batched strided GEMM, row-major, fp32 accumulation:
 *   C[i] = alpha * op(A[i]) @ op(B[i]) + beta * C[i]   for i in [0, batch)
 * op(A): (m, k), op(B): (k, n), C: (m, n); A[i] = a + i * stride_a (elements), likewise b, c.
 * lda/ldb/ldc: row strides of A, B, C as stored (before op). batch 0 is treated as 1.
 * beta = 0 ignores C's contents (NaN included). */
typedef struct llmrt_gemm_args {
  size_t struct_size;
  int32_t trans_a; /* llmrt_transpose */
  int32_t trans_b;
  int64_t m, n, k;
  float alpha, beta;
  const void* a; int64_t lda; int64_t stride_a;
  const void* b; int64_t ldb; int64_t stride_b;
  void* c;       int64_t ldc; int64_t stride_c;
  int64_t batch;
  int32_t dtype_ab; /* llmrt_dtype of A and B */
  int32_t dtype_c;  /* llmrt_dtype of C */
} llmrt_gemm_args;

/* ---------------------------------------------------------------- linear (torch.nn.Linear) */
/* forward:         out (N, OC) = in (N, C) @ weight (OC, C)^T + bias (OC) (bias may be NULL)
 * backward_input:  d_in (N, C) += d_out (N, OC) @ weight (OC, C)
 * backward_weight: d_weight (OC, C) += d_out^T @ in; d_bias (OC) += column sums of d_out (or NULL)
 * The GPT layers' matmuls: a layer on this family runs exactly their kernels. */
typedef struct llmrt_linear_args {
  size_t struct_size;
  int32_t dtype;
  int32_t reserved;
  int64_t rows, in_features, out_features; /* N, C, OC */
  const void* in;
  const void* weight;
  const void* bias;
  void* out;
  const void* d_out;
  void* d_in;
  float* d_weight; /* f32 */
  float* d_bias;   /* f32 */
} llmrt_linear_args;

/* ---------------------------------------------------------------- causal attention */
/* Causal multi-head self-attention, scale 1/sqrt(C/NH), GPT-2's layout:
 * qkv (B, T, 3C) as [q | k | v] along the last dim, head h at channels [h*hs, (h+1)*hs) of each;
 * out (B, T, C) heads concatenated; lse (B, NH, T) f32, each query row's log-sum-exp (the only
 * state backward needs: no (T, T) tensor is kept).
 * forward writes out and lse; backward: d_qkv (B, T, 3C) += from d_out, qkv, out, lse. */
typedef struct llmrt_attention_args {
  size_t struct_size;
  int32_t dtype;
  int32_t reserved;
  int64_t batch, seq, channels, heads; /* B, T, C, NH */
  const void* qkv;
  void* out;
  float* lse;
  const void* d_out;
  void* d_qkv;
} llmrt_attention_args;

/* ---------------------------------------------------------------- normalisation */
/* Over the last dim of (N, C), eps 1e-5 (or `eps` when non-zero), biased variance.
 * layernorm_forward: out = (in - mean) * rstd * weight + bias; writes mean, rstd (N) f32.
 * layernorm_apply:   the same out from a forward's saved mean and rstd (for recompute).
 * layernorm_backward: d_in (N, C) +=, d_weight, d_bias (C) += (f32); d_in may be NULL (weight
 *   gradients only); d_weight and d_bias may both be NULL (input gradient only).
 * rmsnorm_forward:  out = in * rstd * weight, rstd = 1 / sqrt(mean(in^2) + eps); writes rstd;
 *   mean and bias unused. rmsnorm_backward: d_in +=, d_weight += (either may be NULL). */
typedef struct llmrt_norm_args {
  size_t struct_size;
  int32_t dtype;
  float eps; /* 0: 1e-5 */
  int64_t rows, channels; /* N, C */
  const void* in;
  const void* weight;
  const void* bias;
  void* out;
  float* mean;
  float* rstd;
  const void* d_out;
  void* d_in;
  float* d_weight;
  float* d_bias;
} llmrt_norm_args;

/* ---------------------------------------------------------------- pointwise */
typedef enum llmrt_activation {
  LLMRT_ACT_GELU = 1, /* tanh approximation, torch gelu(approximate="tanh") */
  LLMRT_ACT_SILU = 2  /* x * sigmoid(x) */
} llmrt_activation;

/* forward: out (n) = f(in); backward: d_in (n) += f'(in) * d_out. */
typedef struct llmrt_activation_args {
  size_t struct_size;
  int32_t dtype;
  int32_t kind; /* llmrt_activation */
  int64_t count;
  const void* in;
  void* out;
  const void* d_out;
  void* d_in;
} llmrt_activation_args;

/* softmax over the last dim of (rows, cols): forward out = softmax(in) (rows of -inf give 0s
 * only if some entry is finite); backward d_in += out * (d_out - sum(d_out * out)) per row,
 * from forward's out. */
typedef struct llmrt_softmax_args {
  size_t struct_size;
  int32_t dtype;
  int32_t reserved;
  int64_t rows, cols;
  const void* in;
  void* out; /* forward writes; backward reads */
  const void* d_out;
  void* d_in;
} llmrt_softmax_args;

typedef enum llmrt_elementwise_kind {
  LLMRT_EW_ADD = 1,            /* out = a + b (out may alias a or b) */
  LLMRT_EW_ACCUMULATE = 2,     /* out += a */
  LLMRT_EW_MUL = 3,            /* out = a * b (out may alias a or b) */
  LLMRT_EW_MUL_ACCUMULATE = 4, /* out += a * b */
  LLMRT_EW_SCALE = 5,          /* out = alpha * a (out may alias a) */
  LLMRT_EW_ADD_BIAS = 6        /* out (count/cols, cols) += a + bias[col]; a may be NULL (out += bias) */
} llmrt_elementwise_kind;

typedef struct llmrt_elementwise_args {
  size_t struct_size;
  int32_t dtype;
  int32_t kind; /* llmrt_elementwise_kind */
  int64_t count; /* elements of out */
  int64_t cols;  /* ADD_BIAS only: the bias length, dividing count */
  float alpha;   /* SCALE */
  int32_t reserved;
  const void* a;
  const void* b;
  const void* bias;
  void* out;
} llmrt_elementwise_args;

typedef enum llmrt_reduce_kind {
  LLMRT_SUM_ROWS = 1,   /* out (cols) += column sums of in (rows, cols): a bias gradient */
  LLMRT_SUM_ALL = 2,    /* *scalar = sum of in (rows * cols), written */
  LLMRT_SUM_SQUARES = 3 /* *scalar = sum of in^2, written (a gradient norm) */
} llmrt_reduce_kind;

/* Inputs of `dtype`; out f32; scalar double (accumulated in double). */
typedef struct llmrt_reduce_args {
  size_t struct_size;
  int32_t dtype;
  int32_t kind; /* llmrt_reduce_kind */
  int64_t rows, cols;
  const void* in;
  float* out;
  double* scalar;
} llmrt_reduce_args;

/* out (count) of dst_dtype = in (count) of src_dtype, f32/bf16/f16 each way, round to nearest
 * even (the same rounding as llmrt/half.hpp). */
typedef struct llmrt_cast_args {
  size_t struct_size;
  int32_t src_dtype;
  int32_t dst_dtype;
  int64_t count;
  const void* in;
  void* out;
} llmrt_cast_args;

/* ---------------------------------------------------------------- random */
typedef enum llmrt_random_kind {
  LLMRT_RANDOM_NORMAL = 1, /* mean a, standard deviation b */
  LLMRT_RANDOM_UNIFORM = 2 /* in [a, b) */
} llmrt_random_kind;

/* out (count) of `dtype` from the counter-based stream (Philox4x32-10) at (seed, offset):
 * element i depends on (seed, offset + i) alone, so the same draw on any device, thread count or
 * layout gives the same values. Take seed and offset from host->rng_reserve(ctx, count, ...)
 * to draw from the run's stream (reproducible across resume), or pass your own. */
typedef struct llmrt_random_args {
  size_t struct_size;
  int32_t dtype;
  int32_t kind; /* llmrt_random_kind */
  int64_t count;
  uint64_t seed;
  uint64_t offset;
  double a, b;
  void* out;
} llmrt_random_args;

/* ---------------------------------------------------------------- embedding and loss */
/* forward: out (B, T, C) = table[tokens] (+ positions[t] when positions is not NULL);
 * backward: d_table (V, C) +=, d_positions (maxT, C) += (or NULL). tokens (B, T) i32 in [0, V). */
typedef struct llmrt_embedding_args {
  size_t struct_size;
  int32_t dtype;
  int32_t reserved;
  int64_t batch, seq, channels, vocab;
  const int32_t* tokens;
  const void* table;
  const void* positions;
  void* out;
  const void* d_out;
  float* d_table;
  float* d_positions;
} llmrt_embedding_args;

/* Softmax cross-entropy, fused (probabilities are never stored). logits (N, Vp), targets (N) i32
 * in [0, V), with V = vocab and Vp = padded_vocab (0 means V): the classes are the first V
 * columns of each row; columns [V, Vp) are a padded vocabulary's (aligned GEMMs) and ignored.
 * forward: losses (N) f32 per-row -log p[target], lse (N) f32, *mean_loss = mean of losses.
 * backward: d_logits (N, Vp) = (softmax - onehot) / N * d_loss on the first V columns, 0 on the
 * padded ones, WRITTEN; may alias logits. */
typedef struct llmrt_cross_entropy_args {
  size_t struct_size;
  int32_t dtype;
  float d_loss;
  int64_t rows, vocab;
  const void* logits;
  const int32_t* targets;
  float* losses;
  float* lse;
  float* mean_loss;
  void* d_logits;
  /* Appended (vocabulary padding): the row stride of logits and d_logits, >= vocab; 0 = vocab.
   * A caller whose struct_size ends before it gets 0. */
  int64_t padded_vocab;
} llmrt_cross_entropy_args;

/* ---------------------------------------------------------------- the table */
/* Every slot is filled by a host of this minor; a slot a later minor appends is read only when
 * LLMRT_HAS_FIELD(host->ops, llmrt_ops, slot) says the host has it. */
struct llmrt_ops {
  size_t struct_size;
  llmrt_status* (*gemm)(const llmrt_call_ctx* ctx, const llmrt_gemm_args* args);
  llmrt_status* (*linear_forward)(const llmrt_call_ctx* ctx, const llmrt_linear_args* args);
  llmrt_status* (*linear_backward_input)(const llmrt_call_ctx* ctx, const llmrt_linear_args* args);
  llmrt_status* (*linear_backward_weight)(const llmrt_call_ctx* ctx, const llmrt_linear_args* args);
  llmrt_status* (*attention_forward)(const llmrt_call_ctx* ctx, const llmrt_attention_args* args);
  llmrt_status* (*attention_backward)(const llmrt_call_ctx* ctx, const llmrt_attention_args* args);
  llmrt_status* (*layernorm_forward)(const llmrt_call_ctx* ctx, const llmrt_norm_args* args);
  llmrt_status* (*layernorm_apply)(const llmrt_call_ctx* ctx, const llmrt_norm_args* args);
  llmrt_status* (*layernorm_backward)(const llmrt_call_ctx* ctx, const llmrt_norm_args* args);
  llmrt_status* (*rmsnorm_forward)(const llmrt_call_ctx* ctx, const llmrt_norm_args* args);
  llmrt_status* (*rmsnorm_backward)(const llmrt_call_ctx* ctx, const llmrt_norm_args* args);
  llmrt_status* (*activation_forward)(const llmrt_call_ctx* ctx, const llmrt_activation_args* args);
  llmrt_status* (*activation_backward)(const llmrt_call_ctx* ctx, const llmrt_activation_args* args);
  llmrt_status* (*softmax_forward)(const llmrt_call_ctx* ctx, const llmrt_softmax_args* args);
  llmrt_status* (*softmax_backward)(const llmrt_call_ctx* ctx, const llmrt_softmax_args* args);
  llmrt_status* (*elementwise)(const llmrt_call_ctx* ctx, const llmrt_elementwise_args* args);
  llmrt_status* (*reduce)(const llmrt_call_ctx* ctx, const llmrt_reduce_args* args);
  llmrt_status* (*cast)(const llmrt_call_ctx* ctx, const llmrt_cast_args* args);
  llmrt_status* (*random)(const llmrt_call_ctx* ctx, const llmrt_random_args* args);
  llmrt_status* (*embedding_forward)(const llmrt_call_ctx* ctx, const llmrt_embedding_args* args);
  llmrt_status* (*embedding_backward)(const llmrt_call_ctx* ctx, const llmrt_embedding_args* args);
  llmrt_status* (*cross_entropy_forward)(const llmrt_call_ctx* ctx, const llmrt_cross_entropy_args* args);
  llmrt_status* (*cross_entropy_backward)(const llmrt_call_ctx* ctx, const llmrt_cross_entropy_args* args);
  /* appended in later minors only */
};

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* LLMRT_PLUGIN_OPS_H_ */
