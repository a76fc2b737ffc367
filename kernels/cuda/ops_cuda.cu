// The op table's extra CUDA kernels (ops_cuda.h): RMSNorm, layernorm from saved statistics,
// softmax, SiLU, products, scales, bias addition and column sums. Rows are a warp each with
// 128-bit packs where C and the pointers allow (S = kStep<T>, else 1); pointwise ops are maps
// (elementwise.cuh); parameter gradients are column sums (column_sums.cuh).
#include "cuda/column_sums.cuh"
#include "cuda/elementwise.cuh"
#include "cuda/kernels_cuda.h"
#include "cuda/ops_cuda.h"

namespace llmrt::kernels::cuda {
namespace {
using detail::kStep;
using detail::load_floats;
using detail::store_floats;

using detail::launch_rows;

constexpr int kBlock = 256;
constexpr int kWarps = detail::kRowBlock / 32;  // rows per block of the row kernels

// ---- RMSNorm ----
template <int S, typename T>
__global__ void rmsnorm_forward_kernel(T* out, float* rstd, const T* inp, const T* weight, int N, int C, float eps,
                                       bool wvec) {
  const int row = blockIdx.x * kWarps + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (row >= N) return;  // whole warps leave: the shuffles see full warps
  const std::size_t off = std::size_t(row) * C;
  float sq = 0.0f;
  for (int c = lane * S; c < C; c += 32 * S) {
    float x[S];
    load_floats<S>(x, inp + off + c);
#pragma unroll
    for (int k = 0; k < S; k++) sq += x[k] * x[k];
  }
  const float rs = rsqrtf(detail::warp_sum(sq) / C + eps);
  for (int c = lane * S; c < C; c += 32 * S) {
    float x[S], w[S], y[S];
    load_floats<S>(x, inp + off + c);
    detail::load_weights<S>(w, weight + c, wvec);
#pragma unroll
    for (int k = 0; k < S; k++) y[k] = x[k] * rs * w[k];
    store_floats<S>(out + off + c, y);
  }
  if (lane == 0) rstd[row] = rs;
}

// dx += rs * (w dy - norm * mean(w dy * norm)), norm = x rs.
template <int S, typename T>
__global__ void rmsnorm_backward_kernel(T* dinp, const T* dout, const T* inp, const T* weight, const float* rstd, int N,
                                        int C, bool wvec) {
  const int row = blockIdx.x * kWarps + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (row >= N) return;
  const std::size_t off = std::size_t(row) * C;
  const float rs = rstd[row];
  float dot = 0.0f;
  for (int c = lane * S; c < C; c += 32 * S) {
    float x[S], dy[S], w[S];
    load_floats<S>(x, inp + off + c);
    load_floats<S>(dy, dout + off + c);
    detail::load_weights<S>(w, weight + c, wvec);
#pragma unroll
    for (int k = 0; k < S; k++) dot += w[k] * dy[k] * x[k] * rs;
  }
  const float dot_mean = detail::warp_sum(dot) / C;
  for (int c = lane * S; c < C; c += 32 * S) {
    float x[S], dy[S], w[S], dx[S];
    load_floats<S>(x, inp + off + c);
    load_floats<S>(dy, dout + off + c);
    detail::load_weights<S>(w, weight + c, wvec);
    load_floats<S>(dx, dinp + off + c);
#pragma unroll
    for (int k = 0; k < S; k++) dx[k] += rs * (w[k] * dy[k] - x[k] * rs * dot_mean);
    store_floats<S>(dinp + off + c, dx);
  }
}

template <typename T>
struct RmsnormWeightTerm {  // dweight[c] += dout * inp * rstd
  const T* dout;
  const T* inp;
  const float* rstd;
  int C;
  __device__ void operator()(int row, int c, float (&v)[1]) const {
    const std::size_t i = std::size_t(row) * C + c;
    v[0] = detail::to_float(dout[i]) * detail::to_float(inp[i]) * rstd[row];
  }
};

template <typename T>
struct ColumnTerm {  // out[c] += in
  const T* in;
  int C;
  __device__ void operator()(int row, int c, float (&v)[1]) const {
    v[0] = detail::to_float(in[std::size_t(row) * C + c]);
  }
};

template <int S, typename T>
__global__ void layernorm_apply_kernel(T* out, const T* inp, const float* mean, const float* rstd, const T* weight,
                                       const T* bias, int N, int C, bool wvec) {
  const int row = blockIdx.x * kWarps + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (row >= N) return;
  const std::size_t off = std::size_t(row) * C;
  const float mu = mean[row], rs = rstd[row];
  for (int c = lane * S; c < C; c += 32 * S) {
    float x[S], w[S], b[S], y[S];
    load_floats<S>(x, inp + off + c);
    detail::load_weights<S>(w, weight + c, wvec);
    detail::load_weights<S>(b, bias + c, wvec);
#pragma unroll
    for (int k = 0; k < S; k++) y[k] = (x[k] - mu) * rs * w[k] + b[k];
    store_floats<S>(out + off + c, y);
  }
}

// ---- softmax: a warp per row, online (max, sum) in one read, then the written pass ----
template <int S, typename T>
__global__ void softmax_forward_kernel(T* out, const T* inp, int N, int C) {
  const int row = blockIdx.x * kWarps + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (row >= N) return;
  const std::size_t off = std::size_t(row) * C;
  float m = -INFINITY, s = 0.0f;
  for (int c = lane * S; c < C; c += 32 * S) {
    float x[S];
    load_floats<S>(x, inp + off + c);
#pragma unroll
    for (int k = 0; k < S; k++) {
      if (x[k] > m) s = s * expf(m - x[k]) + 1.0f, m = x[k];
      else if (x[k] != -INFINITY) s += expf(x[k] - m);
    }
  }
  const float row_max = detail::warp_max(m);
  const float inv = 1.0f / detail::warp_sum(m == -INFINITY ? 0.0f : s * expf(m - row_max));
  for (int c = lane * S; c < C; c += 32 * S) {
    float x[S], y[S];
    load_floats<S>(x, inp + off + c);
#pragma unroll
    for (int k = 0; k < S; k++) y[k] = expf(x[k] - row_max) * inv;
    store_floats<S>(out + off + c, y);
  }
}

template <int S, typename T>
__global__ void softmax_backward_kernel(T* dinp, const T* dout, const T* out, int N, int C) {
  const int row = blockIdx.x * kWarps + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (row >= N) return;
  const std::size_t off = std::size_t(row) * C;
  float dot = 0.0f;
  for (int c = lane * S; c < C; c += 32 * S) {
    float y[S], dy[S];
    load_floats<S>(y, out + off + c);
    load_floats<S>(dy, dout + off + c);
#pragma unroll
    for (int k = 0; k < S; k++) dot += y[k] * dy[k];
  }
  dot = detail::warp_sum(dot);
  for (int c = lane * S; c < C; c += 32 * S) {
    float y[S], dy[S], dx[S];
    load_floats<S>(y, out + off + c);
    load_floats<S>(dy, dout + off + c);
    load_floats<S>(dx, dinp + off + c);
#pragma unroll
    for (int k = 0; k < S; k++) dx[k] += y[k] * (dy[k] - dot);
    store_floats<S>(dinp + off + c, dx);
  }
}

// out (N, C) += a + bias[c] (a nullptr: 0). S elements per thread step, C a multiple of S.
template <int S, typename T>
__global__ void add_bias_kernel(T* out, const T* a, const T* bias, int C, std::size_t n, bool wvec) {
  for (std::size_t step = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; step * S < n;
       step += std::size_t(gridDim.x) * blockDim.x) {
    const std::size_t i = step * S;
    float o[S], x[S] = {}, b[S];
    load_floats<S>(o, out + i);
    if (a != nullptr) load_floats<S>(x, a + i);
    detail::load_weights<S>(b, bias + i % C, wvec);
#pragma unroll
    for (int k = 0; k < S; k++) o[k] += x[k] + b[k];
    store_floats<S>(out + i, o);
  }
}

// ---- maps ----
__device__ __forceinline__ float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }
struct SiluForward {
  __device__ float operator()(float x, float, float) const { return x * sigmoid(x); }
};
struct SiluBackward {  // d/dx x sigmoid(x) = sig (1 + x (1 - sig))
  __device__ float operator()(float x, float dy, float dx) const {
    const float sg = sigmoid(x);
    return dx + sg * (1.0f + x * (1.0f - sg)) * dy;
  }
};
struct Mul {
  __device__ float operator()(float a, float b, float) const { return a * b; }
};
struct MulAccumulate {
  __device__ float operator()(float a, float b, float acc) const { return acc + a * b; }
};

}  // namespace

template <typename T>
void rmsnorm_forward(T* out, float* rstd, const T* inp, const T* weight, int N, int C, float eps, cudaStream_t stream) {
  if (N == 0 || C == 0) return;
  launch_rows(rmsnorm_forward_kernel<kStep<T>, T>, rmsnorm_forward_kernel<1, T>,
              rows_vectorizable(std::size_t(C), kStep<T>, {out, inp}), N, stream, out, rstd, inp, weight, N, C, eps,
              flat_vectorizable({weight}));
}

template <typename T>
void rmsnorm_backward(T* dinp, float* dweight, const T* dout, const T* inp, const T* weight, const float* rstd, int N,
                      int C, cudaStream_t stream) {
  if (N == 0 || C == 0) return;
  if (dinp != nullptr) {
    launch_rows(rmsnorm_backward_kernel<kStep<T>, T>, rmsnorm_backward_kernel<1, T>,
                rows_vectorizable(std::size_t(C), kStep<T>, {dinp, dout, inp}), N, stream, dinp, dout, inp, weight,
                rstd, N, C, flat_vectorizable({weight}));
  }
  if (dweight != nullptr) {
    detail::launch_column_sums<1>(dweight, nullptr, N, C, RmsnormWeightTerm<T>{dout, inp, rstd, C}, stream);
  }
}

template <typename T>
void layernorm_apply(T* out, const T* inp, const float* mean, const float* rstd, const T* weight, const T* bias,
                     int N, int C, cudaStream_t stream) {
  if (N == 0 || C == 0) return;
  launch_rows(layernorm_apply_kernel<kStep<T>, T>, layernorm_apply_kernel<1, T>,
              rows_vectorizable(std::size_t(C), kStep<T>, {out, inp}), N, stream, out, inp, mean, rstd, weight, bias,
              N, C, flat_vectorizable({weight, bias}));
}

template <typename T>
void softmax_forward(T* out, const T* inp, int N, int C, cudaStream_t stream) {
  if (N == 0 || C == 0) return;
  launch_rows(softmax_forward_kernel<kStep<T>, T>, softmax_forward_kernel<1, T>,
              rows_vectorizable(std::size_t(C), kStep<T>, {out, inp}), N, stream, out, inp, N, C);
}

template <typename T>
void softmax_backward(T* dinp, const T* dout, const T* out, int N, int C, cudaStream_t stream) {
  if (N == 0 || C == 0) return;
  launch_rows(softmax_backward_kernel<kStep<T>, T>, softmax_backward_kernel<1, T>,
              rows_vectorizable(std::size_t(C), kStep<T>, {dinp, dout, out}), N, stream, dinp, dout, out, N, C);
}

template <typename T>
void silu_forward(T* out, const T* inp, std::size_t n, cudaStream_t stream) {
  detail::launch_map<false, false>(out, inp, static_cast<const T*>(nullptr), n, SiluForward{}, stream);
}
template <typename T>
void silu_backward(T* dinp, const T* inp, const T* dout, std::size_t n, cudaStream_t stream) {
  detail::launch_map<true, true>(dinp, inp, dout, n, SiluBackward{}, stream);
}
template <typename T>
void mul_forward(T* out, const T* a, const T* b, std::size_t n, cudaStream_t stream) {
  detail::launch_map<true, false>(out, a, b, n, Mul{}, stream);
}
template <typename T>
void mul_accumulate(T* acc, const T* a, const T* b, std::size_t n, cudaStream_t stream) {
  detail::launch_map<true, true>(acc, a, b, n, MulAccumulate{}, stream);
}
template <typename T>
void scale_forward(T* out, const T* a, float alpha, std::size_t n, cudaStream_t stream) {
  detail::launch_map<false, false>(out, a, static_cast<const T*>(nullptr), n, detail::Scale{alpha}, stream);
}

template <typename T>
void add_bias(T* out, const T* a, const T* bias, int N, int C, cudaStream_t stream) {
  const std::size_t n = std::size_t(N) * C;
  if (n == 0) return;
  const bool wvec = flat_vectorizable({bias});
  if (rows_vectorizable(std::size_t(C), kStep<T>, {out, a})) {
    add_bias_kernel<kStep<T>><<<detail::elementwise_blocks(n / kStep<T>, kBlock), kBlock, 0, stream>>>(out, a, bias,
                                                                                                      C, n, wvec);
  } else {
    add_bias_kernel<1><<<detail::elementwise_blocks(n, kBlock), kBlock, 0, stream>>>(out, a, bias, C, n, wvec);
  }
  LLMRT_CUDA_CHECK_LAUNCH();
}

template <typename T>
void sum_rows(float* out, const T* in, int N, int C, cudaStream_t stream) {
  detail::launch_column_sums<1>(out, nullptr, N, C, ColumnTerm<T>{in, C}, stream);
}

#define LLMRT_INSTANTIATE_OPS(T)                                                                                    \
  template void rmsnorm_forward<T>(T*, float*, const T*, const T*, int, int, float, cudaStream_t);                 \
  template void rmsnorm_backward<T>(T*, float*, const T*, const T*, const T*, const float*, int, int, cudaStream_t); \
  template void layernorm_apply<T>(T*, const T*, const float*, const float*, const T*, const T*, int, int,          \
                                   cudaStream_t);                                                                   \
  template void softmax_forward<T>(T*, const T*, int, int, cudaStream_t);                                          \
  template void softmax_backward<T>(T*, const T*, const T*, int, int, cudaStream_t);                               \
  template void silu_forward<T>(T*, const T*, std::size_t, cudaStream_t);                                          \
  template void silu_backward<T>(T*, const T*, const T*, std::size_t, cudaStream_t);                               \
  template void mul_forward<T>(T*, const T*, const T*, std::size_t, cudaStream_t);                                 \
  template void mul_accumulate<T>(T*, const T*, const T*, std::size_t, cudaStream_t);                              \
  template void scale_forward<T>(T*, const T*, float, std::size_t, cudaStream_t);                                  \
  template void add_bias<T>(T*, const T*, const T*, int, int, cudaStream_t);                                       \
  template void sum_rows<T>(float*, const T*, int, int, cudaStream_t);
LLMRT_INSTANTIATE_OPS(float)
LLMRT_INSTANTIATE_OPS(bf16)
LLMRT_INSTANTIATE_OPS(f16)
#undef LLMRT_INSTANTIATE_OPS

}  // namespace llmrt::kernels::cuda
