// CUDA kernels around the layers: fp16 conversions, the row-parallel epilogue (sum + residual +
// bias), AdamW (fp32 master weights, the T compute copy written in the same pass), SGD, and the
// optimizer step's reductions (the global gradient norm's sum of squares, the clip's scale) and
// the loss's mean.
#include <cmath>

#include "cuda/elementwise.cuh"
#include "cuda/kernels_cuda.h"
#include "cuda/ops_cuda.h"

namespace llmrt::kernels::cuda {
namespace {
using detail::to_float;

constexpr int kBlock = 256;

template <typename Out, typename In>
void convert(Out* out, const In* in, std::size_t n, cudaStream_t stream) {
  if (n == 0) return;
  detail::convert_kernel<<<detail::elementwise_blocks(n, kBlock), kBlock, 0, stream>>>(out, in, n);
  LLMRT_CUDA_CHECK_LAUNCH();
}

// out, residual: (N, C) T; sum: (N, C) Sum; bias: (C) T. out = sum + residual + bias, rounded
// once. S elements per thread step: kStep<T, Sum> when C and every pointer allow 128-bit
// accesses (a step then stays inside one row), else 1. out may alias residual: each element is
// read before the same thread writes it.
template <int S, typename T, typename Sum>
__global__ void bias_residual_kernel(T* out, const Sum* sum, const T* residual, const T* bias, int C, std::size_t n,
                                     bool wvec) {
  for (std::size_t step = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; step * S < n;
       step += std::size_t(gridDim.x) * blockDim.x) {
    const std::size_t i = step * S;
    float a[S], r[S], b[S], o[S];
    detail::load_floats<S>(a, sum + i);
    detail::load_floats<S>(r, residual + i);
    detail::load_weights<S>(b, bias + i % C, wvec);
#pragma unroll
    for (int k = 0; k < S; k++) o[k] = a[k] + r[k] + b[k];
    detail::store_floats<S>(out + i, o);
  }
}

// ---- AdamW ----
struct AdamwScalars {
  float lr, beta1, beta2, eps, weight_decay;
  float bias_correction1, bias_correction2;  // 1 - beta^t, computed once on the host in double
};

// Elements [i, i + S) of the update: fp32 state, the T copy written when there is one.
template <int S, typename T>
__device__ __forceinline__ void adamw_step(float* params, const float* grads, float* m, float* v, T* copy,
                                           std::size_t i, const AdamwScalars& s) {
  float p[S], g[S], mv[S], vv[S];
  detail::load_floats<S>(p, params + i);
  detail::load_floats<S>(g, grads + i);
  detail::load_floats<S>(mv, m + i);
  detail::load_floats<S>(vv, v + i);
#pragma unroll
  for (int k = 0; k < S; k++) {
    mv[k] = s.beta1 * mv[k] + (1.0f - s.beta1) * g[k];
    vv[k] = s.beta2 * vv[k] + (1.0f - s.beta2) * g[k] * g[k];
    const float m_hat = mv[k] / s.bias_correction1, v_hat = vv[k] / s.bias_correction2;
    p[k] -= s.lr * s.weight_decay * p[k];  // decoupled: decays the weight, not the gradient
    p[k] -= s.lr * m_hat / (sqrtf(v_hat) + s.eps);
  }
  detail::store_floats<S>(params + i, p);
  detail::store_floats<S>(m + i, mv);
  detail::store_floats<S>(v + i, vv);
  if (copy != nullptr) detail::store_floats<S>(copy + i, p);
}

// params, grads, m, v: (n) fp32; copy: (n) T or nullptr. Packs of kStep<float, T> when `vec`,
// then the tail (or everything when !vec) one element per thread.
template <typename T>
__global__ void adamw_kernel(float* params, const float* grads, float* m, float* v, std::size_t n, AdamwScalars s,
                             T* copy, bool vec) {
  constexpr int kS = detail::kStep<float, T>;
  const std::size_t tid = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x;
  const std::size_t stride = std::size_t(gridDim.x) * blockDim.x;
  const FlatSplit split = flat_split(n, kS, vec);
  for (std::size_t p = tid; p < split.packs; p += stride) adamw_step<kS>(params, grads, m, v, copy, p * kS, s);
  for (std::size_t i = split.scalar_from + tid; i < n; i += stride) adamw_step<1>(params, grads, m, v, copy, i, s);
}

// Elements [i, i + S) of the SGD update; buffer: the momentum buffer or nullptr (momentum 0).
template <int S>
__device__ __forceinline__ void sgd_step(float* params, const float* grads, float* buffer, std::size_t i, float lr,
                                         float momentum, float weight_decay) {
  float p[S], g[S], b[S] = {};
  detail::load_floats<S>(p, params + i);
  detail::load_floats<S>(g, grads + i);
  if (buffer != nullptr) detail::load_floats<S>(b, buffer + i);
#pragma unroll
  for (int k = 0; k < S; k++) {
    float d = g[k] + weight_decay * p[k];
    if (buffer != nullptr) d = b[k] = momentum * b[k] + d;
    p[k] -= lr * d;
  }
  detail::store_floats<S>(params + i, p);
  if (buffer != nullptr) detail::store_floats<S>(buffer + i, b);
}

// params, grads, buffer: (n) fp32. Packs of 4 when `vec`, then the tail one element per thread.
__global__ void sgd_kernel(float* params, const float* grads, float* buffer, std::size_t n, float lr,
                           float momentum, float weight_decay, bool vec) {
  constexpr int kS = detail::kStep<float>;
  const std::size_t tid = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x;
  const std::size_t stride = std::size_t(gridDim.x) * blockDim.x;
  const FlatSplit split = flat_split(n, kS, vec);
  for (std::size_t q = tid; q < split.packs; q += stride) {
    sgd_step<kS>(params, grads, buffer, q * kS, lr, momentum, weight_decay);
  }
  for (std::size_t i = split.scalar_from + tid; i < n; i += stride) {
    sgd_step<1>(params, grads, buffer, i, lr, momentum, weight_decay);
  }
}

__device__ __forceinline__ double warp_sum_f64(double x) {
  for (int off = 16; off > 0; off >>= 1) x += __shfl_xor_sync(detail::kFullMask, x, off);
  return x;
}

// Sum over the block in fp64; thread 0 gets the result. blockDim.x a multiple of 32, <= 1024.
__device__ double block_sum_f64(double x) {
  __shared__ double partial[32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  x = warp_sum_f64(x);
  if (lane == 0) partial[warp] = x;
  __syncthreads();
  x = threadIdx.x < warps ? partial[threadIdx.x] : 0.0;
  return warp < 1 ? warp_sum_f64(x) : 0.0;
}

// Pass 1: block b sums its grid-stride share (of the values, or their squares) into scratch[b].
// The grid size is fixed by n alone, so the order of additions (and the result) does not vary
// run to run.
template <typename T>
__global__ void sum_blocks_partial_kernel(double* scratch, const T* in, std::size_t n, bool squares) {
  double acc = 0.0;
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n;
       i += std::size_t(gridDim.x) * blockDim.x) {
    const double x = to_float(in[i]);
    acc += squares ? x * x : x;
  }
  acc = block_sum_f64(acc);
  if (threadIdx.x == 0) scratch[blockIdx.x] = acc;
}

// Pass 2: one block adds the `blocks` partial sums; into *out (one f64 addition after the
// whole sum, the host's `total += part`) when `accumulate`, else over it.
__global__ void sum_blocks_kernel(double* out, const double* scratch, int blocks, bool accumulate) {
  double acc = 0.0;
  for (int i = threadIdx.x; i < blocks; i += blockDim.x) acc += scratch[i];
  acc = block_sum_f64(acc);
  if (threadIdx.x == 0) *out = accumulate ? *out + acc : acc;
}

__global__ void mean_kernel(float* out, const float* in, int n) {
  __shared__ float scratch[32];
  float acc = 0.0f;
  for (int i = threadIdx.x; i < n; i += blockDim.x) acc += in[i];
  acc = detail::block_sum(acc, scratch);
  if (threadIdx.x == 0) *out = n > 0 ? acc / float(n) : 0.0f;
}

}  // namespace

void f16_to_float(float* out, const f16* in, std::size_t n, cudaStream_t stream) { convert(out, in, n, stream); }
void float_to_f16(f16* out, const float* in, std::size_t n, cudaStream_t stream) { convert(out, in, n, stream); }
void bf16_to_f16(f16* out, const bf16* in, std::size_t n, cudaStream_t stream) { convert(out, in, n, stream); }
void f16_to_bf16(bf16* out, const f16* in, std::size_t n, cudaStream_t stream) { convert(out, in, n, stream); }

template <typename T, typename Sum>
void bias_residual_forward(T* out, const Sum* sum, const T* residual, const T* bias, int N, int C,
                           cudaStream_t stream) {
  const std::size_t n = std::size_t(N) * C;
  if (n == 0) return;
  constexpr int kS = detail::kStep<T, Sum>;
  const bool wvec = flat_vectorizable({bias});
  if (rows_vectorizable(std::size_t(C), kS, {out, sum, residual})) {
    bias_residual_kernel<kS><<<detail::elementwise_blocks(n / kS, kBlock), kBlock, 0, stream>>>(out, sum, residual,
                                                                                               bias, C, n, wvec);
  } else {
    bias_residual_kernel<1><<<detail::elementwise_blocks(n, kBlock), kBlock, 0, stream>>>(out, sum, residual, bias,
                                                                                          C, n, wvec);
  }
  LLMRT_CUDA_CHECK_LAUNCH();
}

template <typename T>
void adamw_update(float* params, const float* grads, float* m, float* v, std::size_t n, float lr, float beta1,
                  float beta2, float eps, float weight_decay, int t, T* params_copy, cudaStream_t stream) {
  if (n == 0) return;
  const AdamwScalars s{lr, beta1, beta2, eps, weight_decay,
                       float(1.0 - std::pow(double(beta1), t)), float(1.0 - std::pow(double(beta2), t))};
  constexpr int kS = detail::kStep<float, T>;
  const bool vec = flat_vectorizable({params, grads, m, v, params_copy});
  adamw_kernel<<<detail::elementwise_blocks(vec ? n / kS + kS : n, kBlock), kBlock, 0, stream>>>(
      params, grads, m, v, n, s, params_copy, vec);
  LLMRT_CUDA_CHECK_LAUNCH();
}

void sgd_update(float* params, const float* grads, float* momentum_buffer, std::size_t n, float lr,
                float momentum, float weight_decay, cudaStream_t stream) {
  if (n == 0) return;
  const bool vec = flat_vectorizable({params, grads, momentum_buffer});
  constexpr int kS = detail::kStep<float>;
  sgd_kernel<<<detail::elementwise_blocks(vec ? n / kS + kS : n, kBlock), kBlock, 0, stream>>>(
      params, grads, momentum_buffer, n, lr, momentum, weight_decay, vec);
  LLMRT_CUDA_CHECK_LAUNCH();
}

namespace {
template <typename T>
void sum_blocks(double* out, const T* in, std::size_t n, bool squares, bool accumulate, double* scratch,
                cudaStream_t stream) {
  const std::size_t want = (n + kBlock - 1) / kBlock;
  const int blocks = int(want == 0 ? 1 : (want < std::size_t(kSumOfSquaresBlocks) ? want : kSumOfSquaresBlocks));
  sum_blocks_partial_kernel<<<blocks, kBlock, 0, stream>>>(scratch, in, n, squares);
  LLMRT_CUDA_CHECK_LAUNCH();
  sum_blocks_kernel<<<1, 1024, 0, stream>>>(out, scratch, blocks, accumulate);
  LLMRT_CUDA_CHECK_LAUNCH();
}
}  // namespace

template <typename T>
void sum_all(double* out, const T* in, std::size_t n, bool squares, double* scratch, cudaStream_t stream) {
  sum_blocks(out, in, n, squares, /*accumulate=*/false, scratch, stream);
}

void sum_of_squares(double* out, const float* in, std::size_t n, double* scratch, cudaStream_t stream) {
  sum_all(out, in, n, true, scratch, stream);
}

void accumulate_sum_of_squares(double* total, const float* in, std::size_t n, double* scratch, cudaStream_t stream) {
  sum_blocks(total, in, n, /*squares=*/true, /*accumulate=*/true, scratch, stream);
}

void scale(float* data, std::size_t n, float factor, cudaStream_t stream) {
  if (n == 0) return;
  detail::launch_map<false, false>(data, static_cast<const float*>(data), static_cast<const float*>(nullptr), n,
                                   detail::Scale{factor}, stream);
}

void mean(float* out, const float* in, int n, cudaStream_t stream) {
  mean_kernel<<<1, 1024, 0, stream>>>(out, in, n);
  LLMRT_CUDA_CHECK_LAUNCH();
}

template void bias_residual_forward<float, float>(float*, const float*, const float*, const float*, int, int,
                                                 cudaStream_t);
template void bias_residual_forward<bf16, float>(bf16*, const float*, const bf16*, const bf16*, int, int, cudaStream_t);
template void bias_residual_forward<bf16, bf16>(bf16*, const bf16*, const bf16*, const bf16*, int, int, cudaStream_t);
template void bias_residual_forward<f16, float>(f16*, const float*, const f16*, const f16*, int, int, cudaStream_t);
template void bias_residual_forward<f16, f16>(f16*, const f16*, const f16*, const f16*, int, int, cudaStream_t);

template void sum_all<float>(double*, const float*, std::size_t, bool, double*, cudaStream_t);
template void sum_all<bf16>(double*, const bf16*, std::size_t, bool, double*, cudaStream_t);
template void sum_all<f16>(double*, const f16*, std::size_t, bool, double*, cudaStream_t);

#define LLMRT_INSTANTIATE_ADAMW(T)                                                                            \
  template void adamw_update<T>(float*, const float*, float*, float*, std::size_t, float, float, float, float, \
                                float, int, T*, cudaStream_t);
LLMRT_INSTANTIATE_ADAMW(float)
LLMRT_INSTANTIATE_ADAMW(bf16)
LLMRT_INSTANTIATE_ADAMW(f16)
#undef LLMRT_INSTANTIATE_ADAMW

}  // namespace llmrt::kernels::cuda
