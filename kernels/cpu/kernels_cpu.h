// Fast fp32 CPU kernels: OpenBLAS sgemm for matmuls, OpenMP loops the compiler vectorises for
// the rest. Same signatures and contracts as the ref/ twin (kernel_signatures.inc).
#pragma once

#include <cstddef>
#include <cstdint>

namespace llmrt::kernels::cpu {
#include "ref/kernel_signatures.inc"

// out = (inp - mean) * rstd * weight + bias per row, from statistics layernorm_forward saved:
// the same values it wrote to `out` (one row function serves both), for layers that recompute
// a LayerNorm output in backward (selective recompute). out, inp: (N, C); mean, rstd: (N).
void layernorm_apply(float* out, const float* inp, const float* mean, const float* rstd, const float* weight,
                     const float* bias, int N, int C);

// Threads this rank's kernels use: sets OpenBLAS's pool and the OpenMP team size of every
// kernel here. The two pools take turns (attention, the one kernel that calls BLAS inside an
// OpenMP region, makes BLAS single-threaded meanwhile), so the rank never runs more than n
// busy threads. n < 1 is treated as 1.
void set_cpu_threads(int n);
// The current setting; before any set_cpu_threads, OpenMP's default (OMP_NUM_THREADS or cores).
int cpu_threads();
}  // namespace llmrt::kernels::cpu

// ---- beyond GPT-2's set: for layers on the host's op table (extra_cpu.cpp) ----
namespace llmrt::kernels::cpu {
// RMSNorm over the last dim: out = inp * rstd * weight, rstd = 1/sqrt(mean(inp^2) + eps).
// out, inp: (N, C); rstd: (N) written; weight: (C).
void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, int N, int C, float eps);
// dinp: (N, C) += or nullptr; dweight: (C) += or nullptr; dout, inp: (N, C); rstd: (N) from forward.
void rmsnorm_backward(float* dinp, float* dweight, const float* dout, const float* inp, const float* weight,
                      const float* rstd, int N, int C);
// Softmax over the last dim. out, inp: (N, C). Backward: dinp (N, C) += out * (dout - rowsum(dout * out)).
void softmax_forward(float* out, const float* inp, int N, int C);
void softmax_backward(float* dinp, const float* dout, const float* out, int N, int C);
// SiLU x * sigmoid(x). out, inp: (n); dinp: (n) +=.
void silu_forward(float* out, const float* inp, std::size_t n);
void silu_backward(float* dinp, const float* inp, const float* dout, std::size_t n);
// out = a * b (may alias); acc += a * b; out = alpha * a (may alias). All (n).
void mul_forward(float* out, const float* a, const float* b, std::size_t n);
void mul_accumulate(float* acc, const float* a, const float* b, std::size_t n);
void scale_forward(float* out, const float* a, float alpha, std::size_t n);
// out (N, C) += a (N, C) + bias (C); a may be nullptr (out += bias).
void add_bias(float* out, const float* a, const float* bias, int N, int C);
// C[i] (M, N) = alpha op(A[i]) (M, K) @ op(B[i]) (K, N) + beta C[i], row-major, for i < batch;
// X[i] = X + i * stride_x; lda/ldb/ldc row strides as stored. One sgemm per batch entry.
void gemm_strided_batched(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
                          long long stride_a, const float* B, int ldb, long long stride_b, float beta, float* C,
                          int ldc, long long stride_c, int batch);
// dbias (C) += column sums of dout (N, C): matmul_backward_weight's bias gradient, alone.
void sum_rows(float* dbias, const float* dout, int N, int C);
// Sum (or sum of squares) of in (n), accumulated in double.
double sum_all(const float* in, std::size_t n, bool squares);
}  // namespace llmrt::kernels::cpu
