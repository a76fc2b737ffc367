// CUDA kernels the op table (runtime/ops/host_ops_cuda.cpp) needs beyond GPT-2's: RMSNorm,
// layernorm from saved statistics, softmax, SiLU, products and scales, bias addition, column
// and whole-tensor sums, and the embedding gather without positions. Same conventions as
// kernels_cuda.h: T in {float, bf16, f16} storage, fp32 arithmetic, device pointers, the
// stream last, backward passes ADD (+=); each is the twin of the kernels/cpu function of the
// same name (extra_cpu.cpp), which the CUDA tests compare it with.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cuda/cuda_common.h"

namespace llmrt::kernels::cuda {

// out: (N, C) = inp * rstd * weight, rstd = 1 / sqrt(mean(inp^2) + eps); rstd: (N) fp32 written;
// inp: (N, C); weight: (C).
template <typename T>
void rmsnorm_forward(T* out, float* rstd, const T* inp, const T* weight, int N, int C, float eps, cudaStream_t stream);
// dinp: (N, C) += or nullptr; dweight: (C) fp32 += or nullptr; dout, inp: (N, C); weight: (C);
// rstd: (N) fp32 from the forward.
template <typename T>
void rmsnorm_backward(T* dinp, float* dweight, const T* dout, const T* inp, const T* weight, const float* rstd, int N,
                      int C, cudaStream_t stream);
// out: (N, C) = (inp - mean) * rstd * weight + bias from a forward's mean, rstd: (N) fp32.
template <typename T>
void layernorm_apply(T* out, const T* inp, const float* mean, const float* rstd, const T* weight, const T* bias,
                     int N, int C, cudaStream_t stream);

// out: (N, C) = softmax over each row of inp: (N, C) (fp32 max and sum).
template <typename T>
void softmax_forward(T* out, const T* inp, int N, int C, cudaStream_t stream);
// dinp: (N, C) += out * (dout - sum(dout * out)) per row; dout, out: (N, C).
template <typename T>
void softmax_backward(T* dinp, const T* dout, const T* out, int N, int C, cudaStream_t stream);

// out: (n) = x * sigmoid(x); dinp: (n) += silu'(inp) * dout.
template <typename T>
void silu_forward(T* out, const T* inp, std::size_t n, cudaStream_t stream);
template <typename T>
void silu_backward(T* dinp, const T* inp, const T* dout, std::size_t n, cudaStream_t stream);
// out = a * b (out may alias a or b); acc += a * b; out = alpha * a (out may alias a). All (n).
template <typename T>
void mul_forward(T* out, const T* a, const T* b, std::size_t n, cudaStream_t stream);
template <typename T>
void mul_accumulate(T* acc, const T* a, const T* b, std::size_t n, cudaStream_t stream);
template <typename T>
void scale_forward(T* out, const T* a, float alpha, std::size_t n, cudaStream_t stream);
// out: (N, C) += a + bias[c]; a: (N, C) or nullptr (out += bias); bias: (C).
template <typename T>
void add_bias(T* out, const T* a, const T* bias, int N, int C, cudaStream_t stream);

// out: (C) fp32 += the column sums of in: (N, C) (a bias gradient).
template <typename T>
void sum_rows(float* out, const T* in, int N, int C, cudaStream_t stream);
// out: (1) fp64 WRITTEN = sum of in[i] (or of in[i]^2 when `squares`), in fp64 and a fixed order
// (bitwise reproducible); in: (n); scratch: (kSumOfSquaresBlocks) fp64 device memory.
template <typename T>
void sum_all(double* out, const T* in, std::size_t n, bool squares, double* scratch, cudaStream_t stream);

// The embedding without positions (RoPE models): out (B*T, C) = table[tokens]; backward
// dtable: (V, C) fp32 += dout rows at their tokens (atomics: tokens repeat). tokens: (B*T).
template <typename T>
void embedding_gather(T* out, const std::int32_t* tokens, const T* table, int rows, int C, cudaStream_t stream);
template <typename T>
void embedding_gather_backward(float* dtable, const T* dout, const std::int32_t* tokens, int rows, int C,
                               cudaStream_t stream);

// The op table's batched GEMM (llmrt_gemm_args), row-major: for i < batch,
//   C[i] = alpha * op(A[i]) @ op(B[i]) + beta * C[i],  A[i] = a + i * stride_a (elements), likewise b, c;
// op(A): (m, k) stored (m, k) ld lda, or (k, m) when trans_a; op(B): (k, n) stored (k, n) ld ldb,
// or (n, k) when trans_b; C: (m, n) ld ldc. T (A, B) and D (C) in {float, bf16, f16}, D = T or
// fp32; fp32 compute and scale (no TF32). beta 0 never reads C. One cuBLASLt strided-batched
// matmul (desc and heuristic built per call: the op table's GEMMs are not the GPT layers' hot
// path), or the plain kernel when cuBLASLt has no algorithm (or k is 0); batch elements whose C
// overlap (stride_c 0, or under one matrix) run one after another in stream order, as the CPU
// entry's loop does. Throws CudaError naming the shape when the context allows no fallback.
template <typename T, typename D>
void gemm_strided_batched(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const T* a, int lda,
                          long long stride_a, const T* b, int ldb, long long stride_b, float beta, D* c, int ldc,
                          long long stride_c, int batch, GemmContext& gemm, cudaStream_t stream);

}  // namespace llmrt::kernels::cuda
