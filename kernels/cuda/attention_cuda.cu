// kernels_cuda.h's causal attention: checks the shape, then sends bf16 and f16 to the tensor-core
// kernels (attention_mma_*.cu) where they take the call, everything else (fp32, a head size that
// is not a multiple of 8, a pre-Ampere card, a pointer off 16-byte alignment) to the CUDA-core
// kernels (attention_simt.cu). Both write dqkv; only the tensor-core backward uses the scratch.
#include <atomic>
#include <cstdint>
#include <string>
#include <type_traits>

#include "cuda/attention_internal.h"

namespace llmrt::kernels::cuda {
namespace {

void check_shape(const char* what, int B, int Tn, int C, int NH) {
  const bool ok = B >= 0 && Tn >= 0 && NH > 0 && C > 0 && C % NH == 0 && C / NH <= kMaxAttentionHeadSize;
  if (!ok) {
    throw CudaError(std::string(what) + ": B = " + std::to_string(B) + ", T = " + std::to_string(Tn) +
                    ", C = " + std::to_string(C) + ", NH = " + std::to_string(NH) +
                    ": expected B, T >= 0 and a head size C / NH that is a whole number in [1, " +
                    std::to_string(kMaxAttentionHeadSize) + "]");
  }
}

bool aligned16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

// The tensor-core kernels' own conditions beyond the dtype (attention_internal.h).
bool mma_shape(int C, int NH) { return (C / NH) % 8 == 0; }

// Compiled with the mma kernels (same architectures), so the code the driver picks for this
// device has the __CUDA_ARCH__ they would have: its ptxVersion (the virtual architecture it was
// compiled from, e.g. 80) says whether their mma path exists in it or traps.
__global__ void mma_arch_probe() {}

// The tensor cores' path needs an sm_80+ card AND a build that compiled the mma kernels for it:
// a build for older architectures only (a CUDA 12 build for Volta, say) running on an Ampere
// card JIT-compiles its compute_70 PTX, where the mma kernels are a trap.
// Asked once per device (every attention call asks): 0 unknown, 1 no, 2 yes.
bool device_has_mma() {
  constexpr int kDevices = 64;
  static std::atomic<int> answers[kDevices];
  int device = 0, major = 0;
  LLMRT_CUDA_CHECK(cudaGetDevice(&device));
  if (device < kDevices && answers[device].load(std::memory_order_relaxed) != 0) {
    return answers[device].load(std::memory_order_relaxed) == 2;
  }
  LLMRT_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  cudaFuncAttributes probe{};
  if (major >= 8) LLMRT_CUDA_CHECK(cudaFuncGetAttributes(&probe, mma_arch_probe));
  const bool has = major >= 8 && probe.ptxVersion >= 80;
  if (device < kDevices) answers[device].store(has ? 2 : 1, std::memory_order_relaxed);
  return has;
}

}  // namespace

namespace detail {

bool attention_mma_takes(int C, int NH, const void* const* pointers, int n_pointers) {
  if (!mma_shape(C, NH)) return false;
  for (int i = 0; i < n_pointers; i++) {
    if (!aligned16(pointers[i])) return false;
  }
  return device_has_mma();
}

}  // namespace detail

template <typename T>
void attention_forward(T* out, float* lse, const T* qkv, int B, int Tn, int C, int NH, cudaStream_t stream) {
  check_shape("attention_forward", B, Tn, C, NH);
  if (B == 0 || Tn == 0) return;
  if constexpr (!std::is_same_v<T, float>) {
    const void* pointers[] = {out, qkv};
    if (detail::attention_mma_takes(C, NH, pointers, 2)) {
      return detail::attention_forward_mma(out, lse, qkv, B, Tn, C, NH, stream);
    }
  }
  detail::attention_forward_simt(out, lse, qkv, B, Tn, C, NH, stream);
}

// What the tensor-core backward needs whenever the shape lets it run; the CUDA-core path (fp32,
// or a call the tensor cores refuse) needs none and ignores it.
std::size_t attention_backward_scratch_bytes(int B, int Tn, int C, int NH) {
  check_shape("attention_backward_scratch_bytes", B, Tn, C, NH);
  return mma_shape(C, NH) ? detail::attention_mma_scratch_bytes(B, Tn, C, NH) : 0;
}

template <typename T>
void attention_backward(T* dqkv, const T* dout, const T* qkv, const T* out, const float* lse, void* scratch,
                        int B, int Tn, int C, int NH, cudaStream_t stream) {
  check_shape("attention_backward", B, Tn, C, NH);
  if (B == 0 || Tn == 0) return;
  if constexpr (!std::is_same_v<T, float>) {
    const void* pointers[] = {dqkv, dout, qkv, out};
    if (detail::attention_mma_takes(C, NH, pointers, 4)) {
      if (scratch == nullptr || reinterpret_cast<std::uintptr_t>(scratch) % 256 != 0) {
        throw CudaError("attention_backward: scratch must be attention_backward_scratch_bytes(" + std::to_string(B) +
                        ", " + std::to_string(Tn) + ", " + std::to_string(C) + ", " + std::to_string(NH) + ") = " +
                        std::to_string(detail::attention_mma_scratch_bytes(B, Tn, C, NH)) +
                        " device bytes, 256-byte aligned; got " +
                        (scratch == nullptr ? std::string("nullptr") : std::string("a misaligned pointer")));
      }
      return detail::attention_backward_mma(dqkv, dout, qkv, out, lse, scratch, B, Tn, C, NH, stream);
    }
  }
  detail::attention_backward_simt(dqkv, dout, qkv, out, lse, B, Tn, C, NH, stream);
}

#define LLMRT_ATTENTION(T)                                                                                   \
  template void attention_forward<T>(T*, float*, const T*, int, int, int, int, cudaStream_t);               \
  template void attention_backward<T>(T*, const T*, const T*, const T*, const float*, void*, int, int, int, int, \
                                      cudaStream_t);
LLMRT_ATTENTION(float)
LLMRT_ATTENTION(bf16)
LLMRT_ATTENTION(f16)
#undef LLMRT_ATTENTION

}  // namespace llmrt::kernels::cuda
