// CUDA layernorm (eps 1e-5, biased variance): forward, backward (+=) and the overwrite backward
// with the residual fused. A warp per row, S elements per lane step (S = kStep<T>, one 128-bit
// load, where C and every pointer allow it; S = 1 otherwise); fp32 arithmetic at every T. The
// weight gradients are a column reduction of their own: per-block partial sums in shared
// memory, then one fp32 atomic per channel per block.
#include "cuda/column_sums.cuh"
#include "cuda/elementwise.cuh"
#include "cuda/kernels_cuda.h"

namespace llmrt::kernels::cuda {
namespace {
using detail::kStep;
using detail::load_floats;
using detail::store_floats;

constexpr int kWarps = detail::kRowBlock / 32;  // rows per block
constexpr float kEps = 1e-5f;

// out: (N, C); mean, rstd: (N) fp32; inp: (N, C); weight, bias: (C). Row read three times
// (mean, centred variance, output): from L1/L2 after the first, and any C works.
template <int S, typename T>
__global__ void layernorm_forward_kernel(T* out, float* mean, float* rstd, const T* inp, const T* weight,
                                         const T* bias, int N, int C, bool wvec) {
  const int row = blockIdx.x * kWarps + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (row >= N) return;  // a whole warp leaves together: the shuffles below see full warps
  const T* x = inp + std::size_t(row) * C;
  float sum = 0.0f;
  for (int c = lane * S; c < C; c += 32 * S) {
    float v[S];
    load_floats<S>(v, x + c);
#pragma unroll
    for (int k = 0; k < S; k++) sum += v[k];
  }
  const float mu = detail::warp_sum(sum) / C;
  float var = 0.0f;
  for (int c = lane * S; c < C; c += 32 * S) {
    float v[S];
    load_floats<S>(v, x + c);
#pragma unroll
    for (int k = 0; k < S; k++) var += (v[k] - mu) * (v[k] - mu);
  }
  const float rs = rsqrtf(detail::warp_sum(var) / C + kEps);
  T* y = out + std::size_t(row) * C;
  for (int c = lane * S; c < C; c += 32 * S) {
    float v[S], w[S], b[S], r[S];
    load_floats<S>(v, x + c);
    detail::load_weights<S>(w, weight + c, wvec);
    detail::load_weights<S>(b, bias + c, wvec);
#pragma unroll
    for (int k = 0; k < S; k++) r[k] = (v[k] - mu) * rs * w[k] + b[k];
    store_floats<S>(y + c, r);
  }
  if (lane == 0) {
    mean[row] = mu;
    rstd[row] = rs;
  }
}

// dinp (N, C) = base + dLN/dinp, rounded once, where base is dinp itself (the += form), the
// residual gradient (the overwrite form; dinp may alias it) or 0 (base == nullptr). Each
// element of base is read by the lane that then writes the same element of dinp.
template <int S, typename T>
__global__ void layernorm_backward_input_kernel(T* dinp, const T* base, const T* dout, const T* inp,
                                                const T* weight, const float* mean, const float* rstd, int N,
                                                int C, bool wvec) {
  const int row = blockIdx.x * kWarps + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (row >= N) return;
  const std::size_t off = std::size_t(row) * C;
  const float mu = mean[row], rs = rstd[row];
  float dnorm_sum = 0.0f, dnorm_norm_sum = 0.0f;
  for (int c = lane * S; c < C; c += 32 * S) {
    float x[S], dy[S], w[S];
    load_floats<S>(x, inp + off + c);
    load_floats<S>(dy, dout + off + c);
    detail::load_weights<S>(w, weight + c, wvec);
#pragma unroll
    for (int k = 0; k < S; k++) {
      const float dnorm = w[k] * dy[k];
      dnorm_sum += dnorm;
      dnorm_norm_sum += dnorm * (x[k] - mu) * rs;
    }
  }
  const float dnorm_mean = detail::warp_sum(dnorm_sum) / C;
  const float dnorm_norm_mean = detail::warp_sum(dnorm_norm_sum) / C;
  for (int c = lane * S; c < C; c += 32 * S) {
    float x[S], dy[S], w[S], acc[S] = {}, r[S];
    load_floats<S>(x, inp + off + c);
    load_floats<S>(dy, dout + off + c);
    detail::load_weights<S>(w, weight + c, wvec);
    if (base != nullptr) load_floats<S>(acc, base + off + c);
#pragma unroll
    for (int k = 0; k < S; k++) {
      const float norm = (x[k] - mu) * rs;
      r[k] = acc[k] + (w[k] * dy[k] - dnorm_mean - norm * dnorm_norm_mean) * rs;
    }
    store_floats<S>(dinp + off + c, r);
  }
}

// The weight gradients' terms of one element: norm * dout (dweight) and dout (dbias).
template <typename T>
struct LayernormParamTerms {
  const T* dout;  // (N, C)
  const T* inp;   // (N, C)
  const float* mean;
  const float* rstd;  // (N)
  int C;
  __device__ void operator()(int row, int c, float (&v)[2]) const {
    const std::size_t i = std::size_t(row) * C + c;
    const float g = detail::to_float(dout[i]);
    v[0] = (detail::to_float(inp[i]) - mean[row]) * rstd[row] * g;
    v[1] = g;
  }
};

template <typename T>
void launch_backward_input(T* dinp, const T* base, const T* dout, const T* inp, const T* weight, const float* mean,
                           const float* rstd, int N, int C, cudaStream_t stream) {
  detail::launch_rows(layernorm_backward_input_kernel<kStep<T>, T>, layernorm_backward_input_kernel<1, T>,
                      rows_vectorizable(std::size_t(C), kStep<T>, {dinp, base, dout, inp}), N, stream, dinp, base,
                      dout, inp, weight, mean, rstd, N, C, flat_vectorizable({weight}));
}

}  // namespace

template <typename T>
void layernorm_forward(T* out, float* mean, float* rstd, const T* inp, const T* weight, const T* bias, int N, int C,
                       cudaStream_t stream) {
  if (N == 0 || C == 0) return;
  detail::launch_rows(layernorm_forward_kernel<kStep<T>, T>, layernorm_forward_kernel<1, T>,
                      rows_vectorizable(std::size_t(C), kStep<T>, {out, inp}), N, stream, out, mean, rstd, inp,
                      weight, bias, N, C, flat_vectorizable({weight, bias}));
}

template <typename T>
void layernorm_backward(T* dinp, float* dweight, float* dbias, const T* dout, const T* inp, const T* weight,
                        const float* mean, const float* rstd, int N, int C, cudaStream_t stream) {
  if (N == 0 || C == 0) return;
  if (dinp != nullptr) launch_backward_input<T>(dinp, dinp, dout, inp, weight, mean, rstd, N, C, stream);
  if (dweight != nullptr) {
    detail::launch_column_sums<2>(dweight, dbias, N, C, LayernormParamTerms<T>{dout, inp, mean, rstd, C}, stream);
  }
}

template <typename T>
void layernorm_backward_residual(T* dinp, const T* dresidual, const T* dout, const T* inp, const T* weight,
                                 const float* mean, const float* rstd, int N, int C, cudaStream_t stream) {
  if (N == 0 || C == 0) return;
  launch_backward_input<T>(dinp, dresidual, dout, inp, weight, mean, rstd, N, C, stream);
}

#define LLMRT_INSTANTIATE_LAYERNORM(T)                                                                              \
  template void layernorm_forward<T>(T*, float*, float*, const T*, const T*, const T*, int, int, cudaStream_t);    \
  template void layernorm_backward<T>(T*, float*, float*, const T*, const T*, const T*, const float*, const float*, \
                                      int, int, cudaStream_t);                                                      \
  template void layernorm_backward_residual<T>(T*, const T*, const T*, const T*, const T*, const float*,            \
                                               const float*, int, int, cudaStream_t);
LLMRT_INSTANTIATE_LAYERNORM(float)
LLMRT_INSTANTIATE_LAYERNORM(bf16)
LLMRT_INSTANTIATE_LAYERNORM(f16)
#undef LLMRT_INSTANTIATE_LAYERNORM

}  // namespace llmrt::kernels::cuda
