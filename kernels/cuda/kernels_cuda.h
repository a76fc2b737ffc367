// CUDA kernels of a GPT-2 training step: fp32, bf16 or f16 storage (the template parameter T),
// fp32 accumulation. Same names, argument order and contracts as the fp32 twins
// (ref/kernel_signatures.inc); the differences, all deliberate, are listed here once:
// - Every pointer is a device pointer; the last argument is the stream the kernel is queued on
//   (matmuls take the GemmContext bound to that stream just before it). Nothing synchronises.
// - Activations, their gradients and the working copy of the weights are T. Parameter gradients
//   (dweight, dbias, dwte, dwpe) are fp32 at every T: they are sums over B*T rows and over
//   microbatches, which a 16-bit mantissa would swamp. Saved statistics (layernorm mean/rstd,
//   attention and cross-entropy lse, losses) are fp32.
// - AdamW updates the fp32 master weights from the fp32 gradients and writes the T copy the
//   next forward reads.
// - crossentropy_forward returns nothing: a mean on the host would stall the stream. Average
//   `losses` when the value is wanted.
// - Backward kernels ADD (+=), as on the CPU, unless their comment says WRITTEN (the overwrite
//   variants, which need no zeroed buffer); gradients that are sums over rows use fp32 atomics
//   or per-block partials, so their low bits need not be bitwise reproducible run to run.
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

// Every kernel below is a template on the storage type T of activations and weights: float
// (fp32 runs), bf16 or f16; all three are instantiated in the .cu files. Arithmetic is fp32
// whatever T is. Where "+=" is written the kernel accumulates; where "WRITTEN" it overwrites
// (the overwrite variants: no memset before them). Pointers into a flat parameter buffer may
// sit at any element offset: kernels that use 128-bit loads check alignment and fall back.

// ---- encoder ----
// out: (B, T, C); tokens: (B, T) int32 in [0, V); wte: (V, C); wpe: (maxT >= T, C).
template <typename T>
void encoder_forward(T* out, const std::int32_t* tokens, const T* wte, const T* wpe, int B, int Tn, int C,
                     cudaStream_t stream);
// dwte: (V, C) fp32 +=; dwpe: (maxT, C) fp32 +=; dout: (B, T, C); tokens: (B, T).
template <typename T>
void encoder_backward(float* dwte, float* dwpe, const T* dout, const std::int32_t* tokens, int B, int Tn,
                      int C, cudaStream_t stream);

// ---- layernorm, eps 1e-5, biased variance ----
// out: (N, C); mean, rstd: (N) fp32; inp: (N, C); weight, bias: (C).
template <typename T>
void layernorm_forward(T* out, float* mean, float* rstd, const T* inp, const T* weight, const T* bias, int N,
                       int C, cudaStream_t stream);
// dinp: (N, C) += or nullptr; dweight, dbias: (C) fp32 += or both nullptr;
// dout, inp: (N, C); weight: (C); mean, rstd: (N) fp32.
template <typename T>
void layernorm_backward(T* dinp, float* dweight, float* dbias, const T* dout, const T* inp, const T* weight,
                        const float* mean, const float* rstd, int N, int C, cudaStream_t stream);
// The overwrite variant with the residual fused: dinp (N, C) WRITTEN = dresidual + d(LN)/d(inp),
// rounded once; dresidual: (N, C) or nullptr (then 0); dinp may alias dresidual. No weight
// gradients (backward_weight takes them later with the form above).
template <typename T>
void layernorm_backward_residual(T* dinp, const T* dresidual, const T* dout, const T* inp, const T* weight,
                                 const float* mean, const float* rstd, int N, int C, cudaStream_t stream);

// ---- matmul: out = inp @ weight^T + bias, through cuBLASLt (fp32 compute, no TF32) ----
// out: (N, OC); inp: (N, C); weight: (OC, C); bias: (OC) or nullptr.
template <typename T>
void matmul_forward(T* out, const T* inp, const T* weight, const T* bias, int N, int C, int OC,
                    GemmContext& gemm, cudaStream_t stream);
// The MLP's first linear with GELU fused as a cuBLASLt epilogue (GELU_AUX_BIAS):
// pre (N, OC) WRITTEN = inp @ weight^T + bias; out (N, OC) WRITTEN = gelu(pre). Falls back to
// matmul_forward + gelu_forward where cuBLASLt takes no such epilogue for the layout.
template <typename T>
void matmul_forward_gelu(T* out, T* pre, const T* inp, const T* weight, const T* bias, int N, int C, int OC,
                         GemmContext& gemm, cudaStream_t stream);
// dinp: (N, C) += (accumulate) or WRITTEN (!accumulate); dout: (N, OC); weight: (OC, C).
template <typename T>
void matmul_backward_input(T* dinp, const T* dout, const T* weight, int N, int C, int OC, GemmContext& gemm,
                           cudaStream_t stream, bool accumulate = true);
// The GELU's backward fused into the second linear's input gradient (DGELU epilogue):
// dpre (N, C) WRITTEN = (dout @ weight) * gelu'(pre); dout: (N, OC); weight: (OC, C); pre: (N, C)
// the pre-activation matmul_forward_gelu stored.
template <typename T>
void matmul_backward_input_gelu(T* dpre, const T* dout, const T* weight, const T* pre, int N, int C, int OC,
                                GemmContext& gemm, cudaStream_t stream);
// dweight: (OC, C) fp32 +=; dbias: (OC) fp32 += or nullptr; dout: (N, OC); inp: (N, C).
template <typename T>
void matmul_backward_weight(float* dweight, float* dbias, const T* dout, const T* inp, int N, int C, int OC,
                            GemmContext& gemm, cudaStream_t stream);
// Both passes (dinp +=); shapes as above.
template <typename T>
void matmul_backward(T* dinp, float* dweight, float* dbias, const T* dout, const T* inp, const T* weight, int N,
                     int C, int OC, GemmContext& gemm, cudaStream_t stream);

// ---- GELU, tanh approximation ----
// out, inp: (n).
template <typename T>
void gelu_forward(T* out, const T* inp, std::size_t n, cudaStream_t stream);
// dinp: (n) +=; inp, dout: (n).
template <typename T>
void gelu_backward(T* dinp, const T* inp, const T* dout, std::size_t n, cudaStream_t stream);
// dinp: (n) WRITTEN = gelu'(inp) * dout; may alias dout.
template <typename T>
void gelu_backward_overwrite(T* dinp, const T* inp, const T* dout, std::size_t n, cudaStream_t stream);

// ---- residual ----
// out = a + b; out, a, b: (n); out may alias a or b.
template <typename T>
void residual_forward(T* out, const T* a, const T* b, std::size_t n, cudaStream_t stream);
// acc += x; acc, x: (n).
template <typename T>
void residual_accumulate(T* acc, const T* x, std::size_t n, cudaStream_t stream);

// The epilogue of a row-parallel linear (tensor parallelism sums the partial outputs first):
// out = sum + residual + bias, rounded once. out, residual: (N, C); sum: (N, C) fp32 (the
// all-reduced partials) or T (one rank's matmul output); bias: (C). out may alias residual.
template <typename T, typename Sum>
void bias_residual_forward(T* out, const Sum* sum, const T* residual, const T* bias, int N, int C,
                           cudaStream_t stream);

// ---- causal self-attention, fused (flash-style): no (B, NH, T, T) tensor is ever stored ----
// out: (B, T, C); lse: (B, NH, T) fp32; qkv: (B, T, 3C), [q | k | v], head h at channels
// [h*hs, (h+1)*hs) of each part. Head size hs = C / NH must be <= kMaxAttentionHeadSize and a
// multiple of 8. bf16 and f16 run tensor-core (mma) kernels on sm_80 and newer; fp32 runs on
// CUDA cores.
template <typename T>
void attention_forward(T* out, float* lse, const T* qkv, int B, int Tn, int C, int NH, cudaStream_t stream);
// Scratch (device bytes) attention_backward needs for these shapes (row sums of dout * out, fp32
// partial dq, ...); 0 when none.
std::size_t attention_backward_scratch_bytes(int B, int Tn, int C, int NH);
// dqkv: (B, T, 3C) WRITTEN; dout, out: (B, T, C); qkv: (B, T, 3C); lse: (B, NH, T) fp32;
// scratch: attention_backward_scratch_bytes(...) device bytes, 256-byte aligned (or nullptr
// when that is 0). Probabilities are recomputed from qkv and lse.
template <typename T>
void attention_backward(T* dqkv, const T* dout, const T* qkv, const T* out, const float* lse, void* scratch,
                        int B, int Tn, int C, int NH, cudaStream_t stream);
// Largest head size the attention kernels take.
inline constexpr int kMaxAttentionHeadSize = 128;

// ---- softmax cross-entropy, fused; fp32 math whatever the logits' type ----
// The vocabulary may be padded for the GEMMs: rows of `logits` are Vp >= V wide, only the first
// V columns are classes; padded columns never enter the softmax.
// losses: (N) fp32; lse: (N) fp32; logits: (N, Vp); targets: (N) int32 in [0, V).
// One pass over the logits (online max and sum).
template <typename T>
void crossentropy_forward(float* losses, float* lse, const T* logits, const std::int32_t* targets, int N, int V,
                          int Vp, cudaStream_t stream);
// dlogits: (N, Vp) WRITTEN = (softmax(logits) - onehot(targets)) / N * dloss on the first V
// columns, 0 on the padded ones; may alias logits. dloss is `dloss_scale` times *dloss_device
// when dloss_device is not nullptr (an fp32 scalar in device memory: no host round trip).
template <typename T>
void crossentropy_backward(T* dlogits, const T* logits, const float* lse, const std::int32_t* targets,
                           float dloss_scale, const float* dloss_device, int N, int V, int Vp, cudaStream_t stream);
// Unpadded forms (Vp = V, dloss by value), for tests and the op table.
template <typename T>
void crossentropy_forward(float* losses, float* lse, const T* logits, const std::int32_t* targets, int N, int V,
                          cudaStream_t stream) {
  crossentropy_forward(losses, lse, logits, targets, N, V, V, stream);
}
template <typename T>
void crossentropy_backward(T* dlogits, const T* logits, const float* lse, const std::int32_t* targets, float dloss,
                           int N, int V, cudaStream_t stream) {
  crossentropy_backward(dlogits, logits, lse, targets, dloss, nullptr, N, V, V, stream);
}

// ---- AdamW, torch.optim.AdamW semantics ----
// params: (n) fp32 master weights; grads, m, v: (n) fp32; step t >= 1. params_copy: (n) T,
// overwritten with the updated weights rounded to T (the compute copy), or nullptr when no copy
// is kept.
template <typename T>
void adamw_update(float* params, const float* grads, float* m, float* v, std::size_t n, float lr, float beta1,
                  float beta2, float eps, float weight_decay, int t, T* params_copy, cudaStream_t stream);
inline void adamw_update(float* params, const float* grads, float* m, float* v, std::size_t n, float lr,
                         float beta1, float beta2, float eps, float weight_decay, int t, std::nullptr_t,
                         cudaStream_t stream) {
  adamw_update<bf16>(params, grads, m, v, n, lr, beta1, beta2, eps, weight_decay, t, nullptr, stream);
}

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
// *total: (1) fp64 += the sum of squares of in: (n) fp32, computed as sum_of_squares computes it
// (same blocks, same order) and added in one fp64 addition; scratch as above.
void accumulate_sum_of_squares(double* total, const float* in, std::size_t n, double* scratch, cudaStream_t stream);
// data: (n) fp32 *= factor.
void scale(float* data, std::size_t n, float factor, cudaStream_t stream);
// out: (1) fp32 = the mean of in: (n) fp32 (the per-row losses of crossentropy_forward).
void mean(float* out, const float* in, int n, cudaStream_t stream);

}  // namespace llmrt::kernels::cuda
