// The element-wise map every pointwise kernel is made of (GELU, residual, the op table's SiLU,
// products and scales): out[i] = op(a[i], b[i], out[i]) in fp32, stored as T, 128-bit packs
// where every pointer is 16-byte aligned and a scalar loop for the rest. Internal to kernels/cuda/.
#pragma once

#include "cuda/device_utils.cuh"

namespace llmrt::kernels::cuda::detail {

// N floats from N elements of T at p (N == 1: one scalar load; else one Packed<T, N>).
template <int N, typename T>
__device__ __forceinline__ void load_floats(float (&out)[N], const T* p) {
  if constexpr (N == 1) {
    out[0] = to_float(*p);
  } else {
    const Packed<T, N> pack = Packed<T, N>::load(p);
#pragma unroll
    for (int k = 0; k < N; k++) out[k] = to_float(pack.v[k]);
  }
}

template <int N, typename T>
__device__ __forceinline__ void store_floats(T* p, const float (&in)[N]) {
  if constexpr (N == 1) {
    *p = from_float<T>(in[0]);
  } else {
    Packed<T, N> pack;
#pragma unroll
    for (int k = 0; k < N; k++) pack.v[k] = from_float<T>(in[k]);
    pack.store(p);
  }
}

// N floats from N elements of a weight vector at p: one Packed<T, N> when `packed` (the host
// found the weights 16-byte aligned), else N scalar loads. Activations decide a row kernel's
// step; weights at an odd offset of a flat parameter buffer cost only their own loads.
template <int N, typename T>
__device__ __forceinline__ void load_weights(float (&out)[N], const T* p, bool packed) {
  if (N == 1 || packed) {
    load_floats<N>(out, p);
  } else {
#pragma unroll
    for (int k = 0; k < N; k++) out[k] = to_float(p[k]);
  }
}

// Elements [i, i + N) of the map. a always read; b when kHasB; out's old value when kReadOut.
// out may alias a or b: each element is read before the same thread writes it.
template <int N, bool kHasB, bool kReadOut, typename T, typename Op>
__device__ __forceinline__ void map_step(T* out, const T* a, const T* b, std::size_t i, const Op& op) {
  float va[N], vb[N] = {}, vo[N] = {}, r[N];
  load_floats<N>(va, a + i);
  if constexpr (kHasB) load_floats<N>(vb, b + i);
  if constexpr (kReadOut) load_floats<N>(vo, out + i);
#pragma unroll
  for (int k = 0; k < N; k++) r[k] = op(va[k], vb[k], vo[k]);
  store_floats<N>(out + i, r);
}

// out, a, b: (n). Grid-stride over packs of kStep<T> when `vec`, then the n % step tail (or all
// of n when !vec) one element per thread.
template <bool kHasB, bool kReadOut, typename T, typename Op>
__global__ void map_kernel(T* out, const T* a, const T* b, std::size_t n, bool vec, Op op) {
  constexpr int kN = kStep<T>;
  const std::size_t tid = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x;
  const std::size_t stride = std::size_t(gridDim.x) * blockDim.x;
  const FlatSplit split = flat_split(n, kN, vec);
  for (std::size_t p = tid; p < split.packs; p += stride) map_step<kN, kHasB, kReadOut>(out, a, b, p * kN, op);
  for (std::size_t i = split.scalar_from + tid; i < n; i += stride) map_step<1, kHasB, kReadOut>(out, a, b, i, op);
}

inline constexpr int kMapBlock = 256;

template <bool kHasB, bool kReadOut, typename T, typename Op>
void launch_map(T* out, const T* a, const T* b, std::size_t n, Op op, cudaStream_t stream) {
  if (n == 0) return;
  const bool vec = flat_vectorizable({out, a, kHasB ? b : nullptr});
  const std::size_t work = vec ? n / kStep<T> + kStep<T> : n;  // threads' worth of items
  map_kernel<kHasB, kReadOut><<<elementwise_blocks(work, kMapBlock), kMapBlock, 0, stream>>>(out, a, b, n, vec, op);
  LLMRT_CUDA_CHECK_LAUNCH();
}

// Launches a row kernel over N rows, a warp each (kRowBlock / 32 rows per block): its 128-bit
// instantiation (S = kStep<T>) when `vec`, else its scalar one (S = 1); both take the same
// arguments. The kernel finds its row as blockIdx.x * (kRowBlock / 32) + threadIdx.x / 32.
inline constexpr int kRowBlock = 256;

template <typename... P, typename... A>
void launch_rows(void (*vector_kernel)(P...), void (*scalar_kernel)(P...), bool vec, int N, cudaStream_t stream,
                 A... args) {
  if (N == 0) return;
  const auto kernel = vec ? vector_kernel : scalar_kernel;
  kernel<<<ceil_div(std::size_t(N), kRowBlock / 32), kRowBlock, 0, stream>>>(args...);
  LLMRT_CUDA_CHECK_LAUNCH();
}

// ---- the maps: op(a, b, old out) -> new out, all fp32 ----
inline constexpr float kGeluScale = 0.7978845608028654f;  // sqrt(2 / pi)
inline constexpr float kGeluCubic = 0.044715f;

__device__ __forceinline__ float gelu(float x) {
  return 0.5f * x * (1.0f + tanhf(kGeluScale * (x + kGeluCubic * x * x * x)));
}
__device__ __forceinline__ float gelu_grad(float x) {
  const float th = tanhf(kGeluScale * (x + kGeluCubic * x * x * x));
  const float du_dx = kGeluScale * (1.0f + 3.0f * kGeluCubic * x * x);
  return 0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * du_dx;
}

struct GeluForward {  // a = x
  __device__ float operator()(float x, float, float) const { return gelu(x); }
};
struct GeluBackward {  // a = x, b = dout, out = dinp +=
  __device__ float operator()(float x, float dy, float dx) const { return dx + gelu_grad(x) * dy; }
};
struct GeluBackwardOverwrite {  // a = x, b = dout, out = dinp WRITTEN
  __device__ float operator()(float x, float dy, float) const { return gelu_grad(x) * dy; }
};
struct Add {  // out = a + b
  __device__ float operator()(float a, float b, float) const { return a + b; }
};
struct Accumulate {  // out += a
  __device__ float operator()(float a, float, float acc) const { return acc + a; }
};
struct Scale {  // out = alpha * a
  float alpha;
  __device__ float operator()(float a, float, float) const { return alpha * a; }
};

}  // namespace llmrt::kernels::cuda::detail
