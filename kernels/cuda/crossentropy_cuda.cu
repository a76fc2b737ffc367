// Fused softmax cross-entropy over a possibly padded vocabulary (rows Vp wide, V real classes).
// Forward reads each row once: every thread keeps an online (max, sum) pair over its columns,
// the block merges them, and the row's lse is saved (fp32). Backward writes
// (softmax - onehot) * dloss / N from that lse, in place if asked, and zeros the padded columns;
// dloss may live on the device so the head never waits for the host. fp32 math at every T.
#include "cuda/elementwise.cuh"
#include "cuda/kernels_cuda.h"

namespace llmrt::kernels::cuda {
namespace {
using detail::kStep;

constexpr int kBlock = 512;

// Folds x into the running (m, s): s is the sum of exp(x_j - m) over the values seen.
__device__ __forceinline__ void online_add(float& m, float& s, float x) {
  if (x > m) {
    s = s * expf(m - x) + 1.0f;  // rescale to the new max (exp(-inf) = 0 on the first value)
    m = x;
  } else if (x != -INFINITY) {  // a -inf logit adds 0 (and no exp(-inf - -inf) = NaN)
    s += expf(x - m);
  }
}

// One block per row; S columns per thread step (S = kStep<T> when Vp and the pointer allow a
// 128-bit load: the last step may then reach past V into the padding, never past Vp).
// losses, lse: (N) fp32; logits: (N, Vp); targets: (N) in [0, V) (another value gives NaN).
template <int S, typename T>
__global__ void crossentropy_forward_kernel(float* losses, float* lse, const T* logits, const std::int32_t* targets,
                                            int V, int Vp) {
  __shared__ float scratch[32];
  const T* row = logits + std::size_t(blockIdx.x) * Vp;
  float m = -INFINITY, s = 0.0f;
  for (int j = threadIdx.x * S; j < V; j += blockDim.x * S) {
    float x[S];
    detail::load_floats<S>(x, row + j);
#pragma unroll
    for (int k = 0; k < S; k++) {
      if (S == 1 || j + k < V) online_add(m, s, x[k]);  // padded columns never enter
    }
  }
  const float row_max = detail::block_max(m, scratch);
  const float sum = detail::block_sum(m == -INFINITY ? 0.0f : s * expf(m - row_max), scratch);
  if (threadIdx.x == 0) {
    const float row_lse = row_max + logf(sum);
    const int target = targets[blockIdx.x];
    lse[blockIdx.x] = row_lse;
    losses[blockIdx.x] = target >= 0 && target < V ? row_lse - detail::to_float(row[target]) : NAN;
  }
}

// One block per row over all Vp columns. dlogits may be logits: each element is read, then
// written, by the same thread. dloss = dloss_scale * (*dloss_device, or 1 when it is nullptr).
template <int S, typename T>
__global__ void crossentropy_backward_kernel(T* dlogits, const T* logits, const float* lse,
                                             const std::int32_t* targets, float dloss_scale,
                                             const float* dloss_device, int N, int V, int Vp) {
  const std::size_t base = std::size_t(blockIdx.x) * Vp;
  const float dloss = dloss_device != nullptr ? dloss_scale * *dloss_device : dloss_scale;
  const float row_scale = dloss / float(N), row_lse = lse[blockIdx.x];
  const int target = targets[blockIdx.x];
  for (int j = threadIdx.x * S; j < Vp; j += blockDim.x * S) {
    float x[S], d[S];
    detail::load_floats<S>(x, logits + base + j);
#pragma unroll
    for (int k = 0; k < S; k++) {
      const int col = j + k;
      d[k] = col < V ? (expf(x[k] - row_lse) - (col == target ? 1.0f : 0.0f)) * row_scale : 0.0f;
    }
    detail::store_floats<S>(dlogits + base + j, d);
  }
}

}  // namespace

template <typename T>
void crossentropy_forward(float* losses, float* lse, const T* logits, const std::int32_t* targets, int N, int V,
                          int Vp, cudaStream_t stream) {
  if (N == 0) return;
  if (rows_vectorizable(std::size_t(Vp), kStep<T>, {logits})) {
    crossentropy_forward_kernel<kStep<T>><<<N, kBlock, 0, stream>>>(losses, lse, logits, targets, V, Vp);
  } else {
    crossentropy_forward_kernel<1><<<N, kBlock, 0, stream>>>(losses, lse, logits, targets, V, Vp);
  }
  LLMRT_CUDA_CHECK_LAUNCH();
}

template <typename T>
void crossentropy_backward(T* dlogits, const T* logits, const float* lse, const std::int32_t* targets,
                           float dloss_scale, const float* dloss_device, int N, int V, int Vp, cudaStream_t stream) {
  if (N == 0) return;
  if (rows_vectorizable(std::size_t(Vp), kStep<T>, {dlogits, logits})) {
    crossentropy_backward_kernel<kStep<T>>
        <<<N, kBlock, 0, stream>>>(dlogits, logits, lse, targets, dloss_scale, dloss_device, N, V, Vp);
  } else {
    crossentropy_backward_kernel<1>
        <<<N, kBlock, 0, stream>>>(dlogits, logits, lse, targets, dloss_scale, dloss_device, N, V, Vp);
  }
  LLMRT_CUDA_CHECK_LAUNCH();
}

#define LLMRT_INSTANTIATE_CROSSENTROPY(T)                                                                   \
  template void crossentropy_forward<T>(float*, float*, const T*, const std::int32_t*, int, int, int,       \
                                        cudaStream_t);                                                      \
  template void crossentropy_backward<T>(T*, const T*, const float*, const std::int32_t*, float, const float*, \
                                         int, int, int, cudaStream_t);
LLMRT_INSTANTIATE_CROSSENTROPY(float)
LLMRT_INSTANTIATE_CROSSENTROPY(bf16)
LLMRT_INSTANTIATE_CROSSENTROPY(f16)
#undef LLMRT_INSTANTIATE_CROSSENTROPY

}  // namespace llmrt::kernels::cuda
