// CUDA kernels of a GPT-2 training step: bf16 storage, fp32 accumulation. Same names, same
// argument order and same contracts as the fp32 twins (ref/kernel_signatures.inc); the
// differences, all deliberate, are listed here once:
// - Every pointer is a device pointer; the last argument is the stream the kernel is queued on
//   (matmuls take the GemmContext bound to that stream just before it). Nothing synchronises.
// - Activations, their gradients and the bf16 working copy of the weights are bf16 (`bf16`).
//   Parameter gradients (dweight, dbias, dwte, dwpe) are fp32: they are sums over B*T rows and
//   over microbatches, which bf16's 8-bit mantissa would swamp. Saved statistics (layernorm
//   mean/rstd, attention and cross-entropy lse, losses) are fp32.
// - AdamW updates the fp32 master weights from the fp32 gradients and writes the bf16 copy
//   the next forward reads.
// - crossentropy_forward returns nothing: a mean on the host would stall the stream. Average
//   `losses` when the value is wanted.
// - Backward kernels ADD (+=), as on the CPU; gradients that are sums over rows use fp32
//   atomics, so their low bits are not bitwise reproducible run to run.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cuda/cuda_common.h"

namespace llmrt::kernels::cuda {

// ---- conversions ----
// out, in: (n).
void bf16_to_float(float* out, const bf16* in, std::size_t n, cudaStream_t stream);
void float_to_bf16(bf16* out, const float* in, std::size_t n, cudaStream_t stream);
// fp16 (IEEE binary16, round to nearest-even; beyond 65504 it overflows to inf) for fp16 runs.
void f16_to_float(float* out, const f16* in, std::size_t n, cudaStream_t stream);
void float_to_f16(f16* out, const float* in, std::size_t n, cudaStream_t stream);
void bf16_to_f16(f16* out, const bf16* in, std::size_t n, cudaStream_t stream);
void f16_to_bf16(bf16* out, const f16* in, std::size_t n, cudaStream_t stream);

// ---- encoder ----
// out: (B, T, C) bf16; tokens: (B, T) int32 in [0, V); wte: (V, C) bf16; wpe: (maxT >= T, C) bf16.
void encoder_forward(bf16* out, const std::int32_t* tokens, const bf16* wte, const bf16* wpe,
                     int B, int T, int C, cudaStream_t stream);
// dwte: (V, C) fp32 +=; dwpe: (maxT, C) fp32 +=; dout: (B, T, C) bf16; tokens: (B, T).
void encoder_backward(float* dwte, float* dwpe, const bf16* dout, const std::int32_t* tokens,
                      int B, int T, int C, cudaStream_t stream);

// ---- layernorm, eps 1e-5, biased variance ----
// out: (N, C) bf16; mean, rstd: (N) fp32; inp: (N, C) bf16; weight, bias: (C) bf16.
void layernorm_forward(bf16* out, float* mean, float* rstd, const bf16* inp, const bf16* weight,
                       const bf16* bias, int N, int C, cudaStream_t stream);
// dinp: (N, C) bf16 += or nullptr; dweight, dbias: (C) fp32 += or both nullptr;
// dout, inp: (N, C) bf16; weight: (C) bf16; mean, rstd: (N) fp32.
void layernorm_backward(bf16* dinp, float* dweight, float* dbias, const bf16* dout,
                        const bf16* inp, const bf16* weight, const float* mean, const float* rstd,
                        int N, int C, cudaStream_t stream);

// ---- matmul: out = inp @ weight^T + bias, through cuBLASLt (fp32 compute) ----
// out: (N, OC) bf16; inp: (N, C) bf16; weight: (OC, C) bf16; bias: (OC) bf16 or nullptr.
void matmul_forward(bf16* out, const bf16* inp, const bf16* weight, const bf16* bias, int N,
                    int C, int OC, GemmContext& gemm, cudaStream_t stream);
// dinp: (N, C) bf16 +=; dout: (N, OC) bf16; weight: (OC, C) bf16.
void matmul_backward_input(bf16* dinp, const bf16* dout, const bf16* weight, int N, int C,
                           int OC, GemmContext& gemm, cudaStream_t stream);
// dweight: (OC, C) fp32 +=; dbias: (OC) fp32 += or nullptr; dout: (N, OC) bf16; inp: (N, C) bf16.
void matmul_backward_weight(float* dweight, float* dbias, const bf16* dout, const bf16* inp,
                            int N, int C, int OC, GemmContext& gemm, cudaStream_t stream);
// Both passes; shapes as above.
void matmul_backward(bf16* dinp, float* dweight, float* dbias, const bf16* dout, const bf16* inp,
                     const bf16* weight, int N, int C, int OC, GemmContext& gemm,
                     cudaStream_t stream);

// ---- GELU, tanh approximation ----
// out, inp: (n) bf16.
void gelu_forward(bf16* out, const bf16* inp, std::size_t n, cudaStream_t stream);
// dinp: (n) bf16 +=; inp, dout: (n) bf16.
void gelu_backward(bf16* dinp, const bf16* inp, const bf16* dout, std::size_t n,
                   cudaStream_t stream);

// ---- residual ----
// out = a + b; out, a, b: (n) bf16; out may alias a or b.
void residual_forward(bf16* out, const bf16* a, const bf16* b, std::size_t n, cudaStream_t stream);
// acc += x; acc, x: (n) bf16.
void residual_accumulate(bf16* acc, const bf16* x, std::size_t n, cudaStream_t stream);

// The epilogue of a row-parallel linear (tensor parallelism sums the partial outputs first):
// out = sum + residual + bias, rounded once. out, residual: (N, C) bf16; sum: (N, C) fp32 (the
// all-reduced partials) or bf16 (one rank's matmul output); bias: (C) bf16. out may alias residual.
void bias_residual_forward(bf16* out, const float* sum, const bf16* residual, const bf16* bias,
                           int N, int C, cudaStream_t stream);
void bias_residual_forward(bf16* out, const bf16* sum, const bf16* residual, const bf16* bias,
                           int N, int C, cudaStream_t stream);

// ---- causal self-attention, fused (flash-style): no (B, NH, T, T) tensor is ever stored ----
// out: (B, T, C) bf16; lse: (B, NH, T) fp32; qkv: (B, T, 3C) bf16, [q | k | v], head h at
// channels [h*hs, (h+1)*hs) of each part. Head size hs = C / NH must be <= 128 (64 and 128 are
// the GPT shapes; smaller ones run the same kernel with idle lanes).
void attention_forward(bf16* out, float* lse, const bf16* qkv, int B, int T, int C, int NH,
                       cudaStream_t stream);
// dqkv: (B, T, 3C) bf16 +=; dout, out: (B, T, C) bf16; qkv: (B, T, 3C) bf16; lse: (B, NH, T) fp32.
// Probabilities are recomputed from qkv and lse.
void attention_backward(bf16* dqkv, const bf16* dout, const bf16* qkv, const bf16* out,
                        const float* lse, int B, int T, int C, int NH, cudaStream_t stream);
// Largest head size the attention kernels take.
inline constexpr int kMaxAttentionHeadSize = 128;

// ---- softmax cross-entropy, fused; fp32 math whatever the logits' type ----
// losses: (N) fp32; lse: (N) fp32; logits: (N, V) bf16 or fp32; targets: (N) int32 in [0, V).
void crossentropy_forward(float* losses, float* lse, const bf16* logits,
                          const std::int32_t* targets, int N, int V, cudaStream_t stream);
void crossentropy_forward(float* losses, float* lse, const float* logits,
                          const std::int32_t* targets, int N, int V, cudaStream_t stream);
// dlogits: (N, V) = (softmax(logits) - onehot(targets)) / N * dloss, WRITTEN; may alias logits.
void crossentropy_backward(bf16* dlogits, const bf16* logits, const float* lse,
                           const std::int32_t* targets, float dloss, int N, int V,
                           cudaStream_t stream);
void crossentropy_backward(float* dlogits, const float* logits, const float* lse,
                           const std::int32_t* targets, float dloss, int N, int V,
                           cudaStream_t stream);

// ---- AdamW, torch.optim.AdamW semantics ----
// params: (n) fp32 master weights; grads, m, v: (n) fp32; step t >= 1. params_bf16: (n) bf16,
// overwritten with the updated weights rounded to bf16, or nullptr when no copy is kept.
void adamw_update(float* params, const float* grads, float* m, float* v, std::size_t n, float lr,
                  float beta1, float beta2, float eps, float weight_decay, int t,
                  bf16* params_bf16, cudaStream_t stream);

// ---- SGD, torch.optim.SGD semantics (dampening 0, no Nesterov) ----
// params, grads: (n) fp32; momentum_buffer: (n) fp32 or nullptr when momentum is 0.
// d = g + weight_decay * p; buf = momentum * buf + d (d = buf); p -= lr * d.
void sgd_update(float* params, const float* grads, float* momentum_buffer, std::size_t n, float lr,
                float momentum, float weight_decay, cudaStream_t stream);

// ---- the optimizer step's reductions and the loss ----
// Blocks sum_of_squares spreads over at most; its scratch holds that many doubles.
inline constexpr int kSumOfSquaresBlocks = 1024;
// out: (1) fp64 = sum of in[i]^2, accumulated in fp64 in a fixed order (bitwise reproducible);
// in: (n) fp32; scratch: (kSumOfSquaresBlocks) fp64 device memory.
void sum_of_squares(double* out, const float* in, std::size_t n, double* scratch, cudaStream_t stream);
// data: (n) fp32 *= factor.
void scale(float* data, std::size_t n, float factor, cudaStream_t stream);
// out: (1) fp32 = the mean of in: (n) fp32 (the per-row losses of crossentropy_forward).
void mean(float* out, const float* in, int n, cudaStream_t stream);

}  // namespace llmrt::kernels::cuda
