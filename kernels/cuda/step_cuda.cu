// CUDA kernels around the layers: fp16 conversions (the fp16 compute copy of the master weights),
// the row-parallel epilogue (sum + residual + bias), SGD, and the optimizer step's reductions
// (the global gradient norm's sum of squares, the clip's scale) and the loss's mean.
#include "cuda/device_utils.cuh"
#include "cuda/kernels_cuda.h"

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

// sum: (N, C) fp32 or bf16; out, residual: (N, C); bias: (C). out may alias residual: each
// element is read before it is written by the same thread.
template <typename Sum>
__global__ void bias_residual_kernel(bf16* out, const Sum* sum, const bf16* residual, const bf16* bias,
                                     int C, std::size_t n) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n;
       i += std::size_t(gridDim.x) * blockDim.x) {
    out[i] = __float2bfloat16(to_float(sum[i]) + to_float(residual[i]) + to_float(bias[i % C]));
  }
}

template <typename Sum>
void bias_residual(bf16* out, const Sum* sum, const bf16* residual, const bf16* bias, int N, int C,
                   cudaStream_t stream) {
  const std::size_t n = std::size_t(N) * C;
  if (n == 0) return;
  bias_residual_kernel<<<detail::elementwise_blocks(n, kBlock), kBlock, 0, stream>>>(out, sum, residual, bias, C, n);
  LLMRT_CUDA_CHECK_LAUNCH();
}

__global__ void sgd_kernel(float* params, const float* grads, float* buffer, std::size_t n, float lr,
                           float momentum, float weight_decay) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n;
       i += std::size_t(gridDim.x) * blockDim.x) {
    const float p = params[i];
    float d = grads[i] + weight_decay * p;
    if (buffer != nullptr) d = buffer[i] = momentum * buffer[i] + d;
    params[i] = p - lr * d;
  }
}

__global__ void scale_kernel(float* data, std::size_t n, float factor) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n;
       i += std::size_t(gridDim.x) * blockDim.x) {
    data[i] *= factor;
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

// Pass 1: block b sums the squares of its grid-stride share into scratch[b]. The grid size is
// fixed by n alone, so the order of additions (and the result) does not vary run to run.
__global__ void sum_of_squares_blocks_kernel(double* scratch, const float* in, std::size_t n) {
  double acc = 0.0;
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n;
       i += std::size_t(gridDim.x) * blockDim.x) {
    const double x = in[i];
    acc += x * x;
  }
  acc = block_sum_f64(acc);
  if (threadIdx.x == 0) scratch[blockIdx.x] = acc;
}

// Pass 2: one block adds the `blocks` partial sums.
__global__ void sum_blocks_kernel(double* out, const double* scratch, int blocks) {
  double acc = 0.0;
  for (int i = threadIdx.x; i < blocks; i += blockDim.x) acc += scratch[i];
  acc = block_sum_f64(acc);
  if (threadIdx.x == 0) *out = acc;
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

void bias_residual_forward(bf16* out, const float* sum, const bf16* residual, const bf16* bias, int N, int C,
                           cudaStream_t stream) {
  bias_residual(out, sum, residual, bias, N, C, stream);
}

void bias_residual_forward(bf16* out, const bf16* sum, const bf16* residual, const bf16* bias, int N, int C,
                           cudaStream_t stream) {
  bias_residual(out, sum, residual, bias, N, C, stream);
}

void sgd_update(float* params, const float* grads, float* momentum_buffer, std::size_t n, float lr,
                float momentum, float weight_decay, cudaStream_t stream) {
  if (n == 0) return;
  sgd_kernel<<<detail::elementwise_blocks(n, kBlock), kBlock, 0, stream>>>(params, grads, momentum_buffer, n, lr,
                                                                           momentum, weight_decay);
  LLMRT_CUDA_CHECK_LAUNCH();
}

void sum_of_squares(double* out, const float* in, std::size_t n, double* scratch, cudaStream_t stream) {
  const std::size_t want = (n + kBlock - 1) / kBlock;
  const int blocks = int(want == 0 ? 1 : (want < std::size_t(kSumOfSquaresBlocks) ? want : kSumOfSquaresBlocks));
  sum_of_squares_blocks_kernel<<<blocks, kBlock, 0, stream>>>(scratch, in, n);
  LLMRT_CUDA_CHECK_LAUNCH();
  sum_blocks_kernel<<<1, 1024, 0, stream>>>(out, scratch, blocks);
  LLMRT_CUDA_CHECK_LAUNCH();
}

void scale(float* data, std::size_t n, float factor, cudaStream_t stream) {
  if (n == 0) return;
  scale_kernel<<<detail::elementwise_blocks(n, kBlock), kBlock, 0, stream>>>(data, n, factor);
  LLMRT_CUDA_CHECK_LAUNCH();
}

void mean(float* out, const float* in, int n, cudaStream_t stream) {
  mean_kernel<<<1, 1024, 0, stream>>>(out, in, n);
  LLMRT_CUDA_CHECK_LAUNCH();
}

}  // namespace llmrt::kernels::cuda
