// CUDA kernels for the position-wise layers: conversions, encoder, GELU and residual. Storage
// T in {float, bf16, f16}, fp32 arithmetic inside every kernel, 128-bit packs where the
// pointers allow (vector_access.h). Layernorm is in layernorm_cuda.cu, AdamW in step_cuda.cu.
#include "cuda/elementwise.cuh"
#include "cuda/kernels_cuda.h"
#include "cuda/ops_cuda.h"

namespace llmrt::kernels::cuda {
namespace {
using detail::kStep;
using detail::to_float;

constexpr int kBlock = 256;

// ---- encoder ----
// out: (B*T, C) = wte[tokens] + wpe[t] (wpe nullptr: + 0); one thread per S elements of a row
// (S = kStep<T> on the vector path, whose host check makes C a multiple of S, so a step never
// crosses a row; S = 1 otherwise).
template <int S, typename T>
__global__ void encoder_forward_kernel(T* out, const std::int32_t* tokens, const T* wte, const T* wpe, int Tn, int C,
                                       std::size_t n, bool wvec) {
  for (std::size_t step = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; step * S < n;
       step += std::size_t(gridDim.x) * blockDim.x) {
    const std::size_t i = step * S, bt = i / C;
    const int c = int(i % C), t = int(bt % Tn);
    float e[S], p[S], r[S];
    detail::load_weights<S>(e, wte + std::size_t(tokens[bt]) * C + c, wvec);
    if (wpe != nullptr) {
      detail::load_weights<S>(p, wpe + std::size_t(t) * C + c, wvec);
    } else {  // the gather of embedding_gather: no positions
#pragma unroll
      for (int k = 0; k < S; k++) p[k] = 0.0f;
    }
#pragma unroll
    for (int k = 0; k < S; k++) r[k] = e[k] + p[k];
    detail::store_floats<S>(out + i, r);
  }
}

// Tokens repeat, so rows of dwte collect from many positions: fp32 atomics.
template <typename T>
__global__ void encoder_backward_wte_kernel(float* dwte, const T* dout, const std::int32_t* tokens, int C,
                                            std::size_t n) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n;
       i += std::size_t(gridDim.x) * blockDim.x) {
    atomicAdd(&dwte[std::size_t(tokens[i / C]) * C + i % C], to_float(dout[i]));
  }
}

// Position t is shared by the B rows only: one thread per (t, c) sums them, no atomics.
template <typename T>
__global__ void encoder_backward_wpe_kernel(float* dwpe, const T* dout, int B, int Tn, int C) {
  const std::size_t tc = std::size_t(Tn) * C;
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < tc;
       i += std::size_t(gridDim.x) * blockDim.x) {
    float acc = 0.0f;
    for (int b = 0; b < B; b++) acc += to_float(dout[std::size_t(b) * tc + i]);
    dwpe[i] += acc;
  }
}

}  // namespace

void bf16_to_float(float* out, const bf16* in, std::size_t n, cudaStream_t stream) {
  if (n == 0) return;
  detail::convert_kernel<<<detail::elementwise_blocks(n, kBlock), kBlock, 0, stream>>>(out, in, n);
  LLMRT_CUDA_CHECK_LAUNCH();
}

void float_to_bf16(bf16* out, const float* in, std::size_t n, cudaStream_t stream) {
  if (n == 0) return;
  detail::convert_kernel<<<detail::elementwise_blocks(n, kBlock), kBlock, 0, stream>>>(out, in, n);
  LLMRT_CUDA_CHECK_LAUNCH();
}

template <typename T>
void encoder_forward(T* out, const std::int32_t* tokens, const T* wte, const T* wpe, int B, int Tn, int C,
                     cudaStream_t stream) {
  const std::size_t n = std::size_t(B) * Tn * C;
  if (n == 0) return;
  // Rows of wte and wpe start at multiples of C: packed when their bases are aligned too.
  const bool wvec = flat_vectorizable({wte, wpe});
  if (rows_vectorizable(std::size_t(C), kStep<T>, {out})) {
    encoder_forward_kernel<kStep<T>><<<detail::elementwise_blocks(n / kStep<T>, kBlock), kBlock, 0, stream>>>(
        out, tokens, wte, wpe, Tn, C, n, wvec);
  } else {
    encoder_forward_kernel<1><<<detail::elementwise_blocks(n, kBlock), kBlock, 0, stream>>>(out, tokens, wte, wpe,
                                                                                             Tn, C, n, wvec);
  }
  LLMRT_CUDA_CHECK_LAUNCH();
}

template <typename T>
void embedding_gather(T* out, const std::int32_t* tokens, const T* table, int rows, int C, cudaStream_t stream) {
  encoder_forward<T>(out, tokens, table, nullptr, 1, rows, C, stream);  // one "batch" of `rows` positions
}

template <typename T>
void embedding_gather_backward(float* dtable, const T* dout, const std::int32_t* tokens, int rows, int C,
                               cudaStream_t stream) {
  const std::size_t n = std::size_t(rows) * C;
  if (n == 0) return;
  encoder_backward_wte_kernel<<<detail::elementwise_blocks(n, kBlock), kBlock, 0, stream>>>(dtable, dout, tokens, C,
                                                                                            n);
  LLMRT_CUDA_CHECK_LAUNCH();
}

template <typename T>
void encoder_backward(float* dwte, float* dwpe, const T* dout, const std::int32_t* tokens, int B, int Tn, int C,
                      cudaStream_t stream) {
  const std::size_t n = std::size_t(B) * Tn * C;
  if (n == 0) return;
  encoder_backward_wte_kernel<<<detail::elementwise_blocks(n, kBlock), kBlock, 0, stream>>>(dwte, dout, tokens, C, n);
  LLMRT_CUDA_CHECK_LAUNCH();
  encoder_backward_wpe_kernel<<<detail::elementwise_blocks(std::size_t(Tn) * C, kBlock), kBlock, 0, stream>>>(
      dwpe, dout, B, Tn, C);
  LLMRT_CUDA_CHECK_LAUNCH();
}

template <typename T>
void gelu_forward(T* out, const T* inp, std::size_t n, cudaStream_t stream) {
  detail::launch_map<false, false>(out, inp, static_cast<const T*>(nullptr), n, detail::GeluForward{}, stream);
}

template <typename T>
void gelu_backward(T* dinp, const T* inp, const T* dout, std::size_t n, cudaStream_t stream) {
  detail::launch_map<true, true>(dinp, inp, dout, n, detail::GeluBackward{}, stream);
}

template <typename T>
void gelu_backward_overwrite(T* dinp, const T* inp, const T* dout, std::size_t n, cudaStream_t stream) {
  detail::launch_map<true, false>(dinp, inp, dout, n, detail::GeluBackwardOverwrite{}, stream);
}

template <typename T>
void residual_forward(T* out, const T* a, const T* b, std::size_t n, cudaStream_t stream) {
  detail::launch_map<true, false>(out, a, b, n, detail::Add{}, stream);
}

template <typename T>
void residual_accumulate(T* acc, const T* x, std::size_t n, cudaStream_t stream) {
  detail::launch_map<false, true>(acc, x, static_cast<const T*>(nullptr), n, detail::Accumulate{}, stream);
}

#define LLMRT_INSTANTIATE_DENSE(T)                                                                                \
  template void encoder_forward<T>(T*, const std::int32_t*, const T*, const T*, int, int, int, cudaStream_t);    \
  template void encoder_backward<T>(float*, float*, const T*, const std::int32_t*, int, int, int, cudaStream_t); \
  template void embedding_gather<T>(T*, const std::int32_t*, const T*, int, int, cudaStream_t);                  \
  template void embedding_gather_backward<T>(float*, const T*, const std::int32_t*, int, int, cudaStream_t);     \
  template void gelu_forward<T>(T*, const T*, std::size_t, cudaStream_t);                                        \
  template void gelu_backward<T>(T*, const T*, const T*, std::size_t, cudaStream_t);                             \
  template void gelu_backward_overwrite<T>(T*, const T*, const T*, std::size_t, cudaStream_t);                   \
  template void residual_forward<T>(T*, const T*, const T*, std::size_t, cudaStream_t);                          \
  template void residual_accumulate<T>(T*, const T*, std::size_t, cudaStream_t);
LLMRT_INSTANTIATE_DENSE(float)
LLMRT_INSTANTIATE_DENSE(bf16)
LLMRT_INSTANTIATE_DENSE(f16)
#undef LLMRT_INSTANTIATE_DENSE

}  // namespace llmrt::kernels::cuda
