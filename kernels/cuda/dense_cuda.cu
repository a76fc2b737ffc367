// CUDA kernels for the position-wise layers: conversions, encoder, layernorm, GELU, residual and
// AdamW. bf16 in and out, fp32 arithmetic inside every kernel.
#include <algorithm>
#include <cmath>

#include "cuda/device_utils.cuh"
#include "cuda/kernels_cuda.h"

namespace llmrt::kernels::cuda {
namespace {
using detail::to_float;

constexpr int kBlock = 256;

// ---- encoder ----
// One thread per (b, t, c) output element.
__global__ void encoder_forward_kernel(bf16* out, const std::int32_t* tokens, const bf16* wte,
                                       const bf16* wpe, int T, int C, std::size_t n) {
  const std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  const std::size_t bt = i / C;
  const int c = int(i % C), t = int(bt % T);
  out[i] = __float2bfloat16(to_float(wte[std::size_t(tokens[bt]) * C + c]) +
                            to_float(wpe[std::size_t(t) * C + c]));
}

// Tokens repeat, so rows of dwte collect from many positions: fp32 atomics.
__global__ void encoder_backward_wte_kernel(float* dwte, const bf16* dout,
                                            const std::int32_t* tokens, int C, std::size_t n) {
  const std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  const std::size_t bt = i / C;
  atomicAdd(&dwte[std::size_t(tokens[bt]) * C + i % C], to_float(dout[i]));
}

// Position t is shared by the B rows only: one thread per (t, c) sums them, no atomics.
__global__ void encoder_backward_wpe_kernel(float* dwpe, const bf16* dout, int B, int T, int C) {
  const std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x;
  if (i >= std::size_t(T) * C) return;
  float acc = 0.0f;
  for (int b = 0; b < B; b++) acc += to_float(dout[std::size_t(b) * T * C + i]);
  dwpe[i] += acc;
}

// ---- layernorm ----
// One warp per row; the row is read twice (mean, then centred variance) from L1/L2 rather
// than held in registers, so any C works.
__global__ void layernorm_forward_kernel(bf16* out, float* mean, float* rstd, const bf16* inp,
                                         const bf16* weight, const bf16* bias, int N, int C) {
  const int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (row >= N) return;
  const bf16* x = inp + std::size_t(row) * C;
  float sum = 0.0f;
  for (int c = lane; c < C; c += 32) sum += to_float(x[c]);
  const float mu = detail::warp_sum(sum) / C;
  float var = 0.0f;
  for (int c = lane; c < C; c += 32) {
    const float d = to_float(x[c]) - mu;
    var += d * d;
  }
  const float rs = rsqrtf(detail::warp_sum(var) / C + 1e-5f);
  bf16* y = out + std::size_t(row) * C;
  for (int c = lane; c < C; c += 32) {
    y[c] = __float2bfloat16((to_float(x[c]) - mu) * rs * to_float(weight[c]) + to_float(bias[c]));
  }
  if (lane == 0) {
    mean[row] = mu;
    rstd[row] = rs;
  }
}

// One warp per row, rows strided over the grid. dweight/dbias partial sums gather in shared
// memory (2*C floats) and reach global memory with one atomic per channel per block.
__global__ void layernorm_backward_kernel(bf16* dinp, float* dweight, float* dbias, const bf16* dout,
                                          const bf16* inp, const bf16* weight, const float* mean,
                                          const float* rstd, int N, int C) {
  extern __shared__ float shared[];
  float* dw_acc = shared;
  float* db_acc = shared + C;
  const bool want_params = dweight != nullptr;
  if (want_params) {
    for (int c = threadIdx.x; c < 2 * C; c += blockDim.x) shared[c] = 0.0f;
    __syncthreads();
  }
  const int warps = blockDim.x / 32, lane = threadIdx.x % 32;
  for (int row = blockIdx.x * warps + threadIdx.x / 32; row < N; row += gridDim.x * warps) {
    const bf16* x = inp + std::size_t(row) * C;
    const bf16* dy = dout + std::size_t(row) * C;
    const float mu = mean[row], rs = rstd[row];
    float dnorm_sum = 0.0f, dnorm_norm_sum = 0.0f;
    for (int c = lane; c < C; c += 32) {
      const float norm = (to_float(x[c]) - mu) * rs, g = to_float(dy[c]);
      const float dnorm = to_float(weight[c]) * g;
      dnorm_sum += dnorm;
      dnorm_norm_sum += dnorm * norm;
      if (want_params) {
        atomicAdd(&dw_acc[c], norm * g);
        atomicAdd(&db_acc[c], g);
      }
    }
    if (dinp == nullptr) continue;
    const float dnorm_mean = detail::warp_sum(dnorm_sum) / C;
    const float dnorm_norm_mean = detail::warp_sum(dnorm_norm_sum) / C;
    bf16* dx = dinp + std::size_t(row) * C;
    for (int c = lane; c < C; c += 32) {
      const float norm = (to_float(x[c]) - mu) * rs;
      const float dnorm = to_float(weight[c]) * to_float(dy[c]);
      dx[c] = __float2bfloat16(to_float(dx[c]) + (dnorm - dnorm_mean - norm * dnorm_norm_mean) * rs);
    }
  }
  if (want_params) {
    __syncthreads();
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
      atomicAdd(&dweight[c], dw_acc[c]);
      atomicAdd(&dbias[c], db_acc[c]);
    }
  }
}

// ---- GELU ----
constexpr float kGeluScale = 0.7978845608028654f;  // sqrt(2 / pi)
constexpr float kGeluCubic = 0.044715f;

__global__ void gelu_forward_kernel(bf16* out, const bf16* inp, std::size_t n) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n;
       i += std::size_t(gridDim.x) * blockDim.x) {
    const float x = to_float(inp[i]);
    const float u = kGeluScale * (x + kGeluCubic * x * x * x);
    out[i] = __float2bfloat16(0.5f * x * (1.0f + tanhf(u)));
  }
}

__global__ void gelu_backward_kernel(bf16* dinp, const bf16* inp, const bf16* dout, std::size_t n) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n;
       i += std::size_t(gridDim.x) * blockDim.x) {
    const float x = to_float(inp[i]);
    const float th = tanhf(kGeluScale * (x + kGeluCubic * x * x * x));
    const float du_dx = kGeluScale * (1.0f + 3.0f * kGeluCubic * x * x);
    const float grad = 0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * du_dx;
    dinp[i] = __float2bfloat16(to_float(dinp[i]) + grad * to_float(dout[i]));
  }
}

// ---- residual ----
__global__ void residual_forward_kernel(bf16* out, const bf16* a, const bf16* b, std::size_t n) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n;
       i += std::size_t(gridDim.x) * blockDim.x) {
    out[i] = __float2bfloat16(to_float(a[i]) + to_float(b[i]));
  }
}

// ---- AdamW ----
struct AdamwScalars {
  float lr, beta1, beta2, eps, weight_decay;
  float bias_correction1, bias_correction2;  // 1 - beta^t, computed once on the host in double
};

__global__ void adamw_kernel(float* params, const float* grads, float* m, float* v, std::size_t n,
                             AdamwScalars s, bf16* params_bf16) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n;
       i += std::size_t(gridDim.x) * blockDim.x) {
    const float g = grads[i];
    const float m_new = s.beta1 * m[i] + (1.0f - s.beta1) * g;
    const float v_new = s.beta2 * v[i] + (1.0f - s.beta2) * g * g;
    const float m_hat = m_new / s.bias_correction1, v_hat = v_new / s.bias_correction2;
    float p = params[i];
    p -= s.lr * s.weight_decay * p;  // decoupled: decays the weight, not the gradient
    p -= s.lr * m_hat / (sqrtf(v_hat) + s.eps);
    m[i] = m_new;
    v[i] = v_new;
    params[i] = p;
    if (params_bf16) params_bf16[i] = __float2bfloat16(p);
  }
}

int sm_count() {
  int device = 0, sms = 0;
  LLMRT_CUDA_CHECK(cudaGetDevice(&device));
  LLMRT_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  return sms;
}

}  // namespace

void bf16_to_float(float* out, const bf16* in, std::size_t n, cudaStream_t stream) {
  detail::convert_kernel<<<detail::elementwise_blocks(n, kBlock), kBlock, 0, stream>>>(out, in, n);
  LLMRT_CUDA_CHECK_LAUNCH();
}

void float_to_bf16(bf16* out, const float* in, std::size_t n, cudaStream_t stream) {
  detail::convert_kernel<<<detail::elementwise_blocks(n, kBlock), kBlock, 0, stream>>>(out, in, n);
  LLMRT_CUDA_CHECK_LAUNCH();
}

void encoder_forward(bf16* out, const std::int32_t* tokens, const bf16* wte, const bf16* wpe,
                     int B, int T, int C, cudaStream_t stream) {
  const std::size_t n = std::size_t(B) * T * C;
  encoder_forward_kernel<<<detail::ceil_div(n, kBlock), kBlock, 0, stream>>>(out, tokens, wte, wpe, T, C, n);
  LLMRT_CUDA_CHECK_LAUNCH();
}

void encoder_backward(float* dwte, float* dwpe, const bf16* dout, const std::int32_t* tokens,
                      int B, int T, int C, cudaStream_t stream) {
  const std::size_t n = std::size_t(B) * T * C;
  encoder_backward_wte_kernel<<<detail::ceil_div(n, kBlock), kBlock, 0, stream>>>(dwte, dout, tokens, C, n);
  LLMRT_CUDA_CHECK_LAUNCH();
  encoder_backward_wpe_kernel<<<detail::ceil_div(std::size_t(T) * C, kBlock), kBlock, 0, stream>>>(
      dwpe, dout, B, T, C);
  LLMRT_CUDA_CHECK_LAUNCH();
}

void layernorm_forward(bf16* out, float* mean, float* rstd, const bf16* inp, const bf16* weight,
                       const bf16* bias, int N, int C, cudaStream_t stream) {
  const int rows_per_block = kBlock / 32;
  layernorm_forward_kernel<<<detail::ceil_div(N, rows_per_block), kBlock, 0, stream>>>(
      out, mean, rstd, inp, weight, bias, N, C);
  LLMRT_CUDA_CHECK_LAUNCH();
}

void layernorm_backward(bf16* dinp, float* dweight, float* dbias, const bf16* dout,
                        const bf16* inp, const bf16* weight, const float* mean, const float* rstd,
                        int N, int C, cudaStream_t stream) {
  if (dinp == nullptr && dweight == nullptr) return;
  const std::size_t smem = dweight ? 2 * std::size_t(C) * sizeof(float) : 0;
  if (smem > 48 * 1024) {  // above the default limit a kernel must opt in to more shared memory
    LLMRT_CUDA_CHECK(cudaFuncSetAttribute(layernorm_backward_kernel,
                                          cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
  }
  // Enough blocks to fill the GPU twice over, no more: each block ends in 2*C atomics.
  const unsigned blocks = std::min(detail::ceil_div(N, kBlock / 32), unsigned(2 * sm_count()));
  layernorm_backward_kernel<<<blocks, kBlock, smem, stream>>>(dinp, dweight, dbias, dout, inp,
                                                              weight, mean, rstd, N, C);
  LLMRT_CUDA_CHECK_LAUNCH();
}

void gelu_forward(bf16* out, const bf16* inp, std::size_t n, cudaStream_t stream) {
  gelu_forward_kernel<<<detail::elementwise_blocks(n, kBlock), kBlock, 0, stream>>>(out, inp, n);
  LLMRT_CUDA_CHECK_LAUNCH();
}

void gelu_backward(bf16* dinp, const bf16* inp, const bf16* dout, std::size_t n,
                   cudaStream_t stream) {
  gelu_backward_kernel<<<detail::elementwise_blocks(n, kBlock), kBlock, 0, stream>>>(dinp, inp, dout, n);
  LLMRT_CUDA_CHECK_LAUNCH();
}

void residual_forward(bf16* out, const bf16* a, const bf16* b, std::size_t n, cudaStream_t stream) {
  residual_forward_kernel<<<detail::elementwise_blocks(n, kBlock), kBlock, 0, stream>>>(out, a, b, n);
  LLMRT_CUDA_CHECK_LAUNCH();
}

void residual_accumulate(bf16* acc, const bf16* x, std::size_t n, cudaStream_t stream) {
  residual_forward(acc, acc, x, n, stream);  // out may alias a: each element is read, then written
}

void adamw_update(float* params, const float* grads, float* m, float* v, std::size_t n, float lr,
                  float beta1, float beta2, float eps, float weight_decay, int t,
                  bf16* params_bf16, cudaStream_t stream) {
  const AdamwScalars s{lr, beta1, beta2, eps, weight_decay,
                       float(1.0 - std::pow(double(beta1), t)), float(1.0 - std::pow(double(beta2), t))};
  adamw_kernel<<<detail::elementwise_blocks(n, kBlock), kBlock, 0, stream>>>(params, grads, m, v, n, s,
                                                                             params_bf16);
  LLMRT_CUDA_CHECK_LAUNCH();
}

}  // namespace llmrt::kernels::cuda
