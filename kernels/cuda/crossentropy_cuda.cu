// Fused softmax cross-entropy: forward keeps one (max, sum) pair per thread in a single pass over
// the row (online softmax) and saves the row lse; backward writes softmax - onehot from lse, in
// place if asked. fp32 math for bf16 and fp32 logits alike; probabilities are never stored.
#include "cuda/device_utils.cuh"
#include "cuda/kernels_cuda.h"

namespace llmrt::kernels::cuda {
namespace {
using detail::to_float;

constexpr int kBlock = 256;

// One block per row.
template <typename L>
__global__ void crossentropy_forward_kernel(float* losses, float* lse, const L* logits,
                                            const std::int32_t* targets, int V) {
  __shared__ float scratch[32];
  const L* row = logits + std::size_t(blockIdx.x) * V;
  float m = -INFINITY, s = 0.0f;
  for (int j = threadIdx.x; j < V; j += blockDim.x) {
    const float x = to_float(row[j]);
    if (x > m) {
      s = s * __expf(m - x) + 1.0f;  // rescale the running sum to the new max
      m = x;
    } else {
      s += __expf(x - m);
    }
  }
  const float row_max = detail::block_max(m, scratch);
  const float sum = detail::block_sum(m == -INFINITY ? 0.0f : s * __expf(m - row_max), scratch);
  if (threadIdx.x == 0) {
    const float row_lse = row_max + logf(sum);
    lse[blockIdx.x] = row_lse;
    losses[blockIdx.x] = row_lse - to_float(row[targets[blockIdx.x]]);
  }
}

// One block per row. logits and dlogits may be the same buffer: each element is read, then
// written, by the same thread.
template <typename L>
__global__ void crossentropy_backward_kernel(L* dlogits, const L* logits, const float* lse,
                                             const std::int32_t* targets, float row_scale, int V) {
  const std::size_t base = std::size_t(blockIdx.x) * V;
  const float row_lse = lse[blockIdx.x];
  const int target = targets[blockIdx.x];
  for (int j = threadIdx.x; j < V; j += blockDim.x) {
    const float prob = __expf(to_float(logits[base + j]) - row_lse);
    dlogits[base + j] = detail::from_float<L>((prob - (j == target ? 1.0f : 0.0f)) * row_scale);
  }
}

template <typename L>
void launch_forward(float* losses, float* lse, const L* logits, const std::int32_t* targets, int N,
                    int V, cudaStream_t stream) {
  if (N == 0) return;
  crossentropy_forward_kernel<L><<<N, kBlock, 0, stream>>>(losses, lse, logits, targets, V);
  LLMRT_CUDA_CHECK_LAUNCH();
}

template <typename L>
void launch_backward(L* dlogits, const L* logits, const float* lse, const std::int32_t* targets,
                     float dloss, int N, int V, cudaStream_t stream) {
  if (N == 0) return;
  crossentropy_backward_kernel<L><<<N, kBlock, 0, stream>>>(dlogits, logits, lse, targets, dloss / N, V);
  LLMRT_CUDA_CHECK_LAUNCH();
}

}  // namespace

void crossentropy_forward(float* losses, float* lse, const bf16* logits,
                          const std::int32_t* targets, int N, int V, cudaStream_t stream) {
  launch_forward(losses, lse, logits, targets, N, V, stream);
}

void crossentropy_forward(float* losses, float* lse, const float* logits,
                          const std::int32_t* targets, int N, int V, cudaStream_t stream) {
  launch_forward(losses, lse, logits, targets, N, V, stream);
}

void crossentropy_backward(bf16* dlogits, const bf16* logits, const float* lse,
                           const std::int32_t* targets, float dloss, int N, int V,
                           cudaStream_t stream) {
  launch_backward(dlogits, logits, lse, targets, dloss, N, V, stream);
}

void crossentropy_backward(float* dlogits, const float* logits, const float* lse,
                           const std::int32_t* targets, float dloss, int N, int V,
                           cudaStream_t stream) {
  launch_backward(dlogits, logits, lse, targets, dloss, N, V, stream);
}

}  // namespace llmrt::kernels::cuda
