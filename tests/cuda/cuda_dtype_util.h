// Helpers of the CUDA kernel tests that run at every storage type (float, bf16, f16): host
// rounding through T (so the CPU reference sees exactly what the GPU reads), device buffers at
// an element offset (weights sit anywhere in a flat buffer: the kernels' scalar path), and a
// comparison whose tolerance is stated in T's epsilon plus fp32 accumulation.
#pragma once

#include <boost/mpl/list.hpp>

#include <cstddef>
#include <string>
#include <vector>

#include "cuda/cuda_test_util.h"

namespace llmrt::kernels::cuda_test {

using cu::f16;
using StorageTypes = boost::mpl::list<float, bf16, f16>;

// Machine epsilon of each storage type: the spacing of values in [1, 2).
template <typename T>
struct Storage;
template <>
struct Storage<float> {
  static constexpr double kEps = 1.0 / (1 << 23);
  static constexpr const char* kName = "fp32";
  static float round(float x) { return x; }
  static float from(float x) { return x; }
  static float widen(float x) { return x; }
};
template <>
struct Storage<bf16> {
  static constexpr double kEps = 1.0 / (1 << 7);  // 8-bit significand
  static constexpr const char* kName = "bf16";
  static bf16 from(float x) { return __float2bfloat16(x); }
  static float widen(bf16 x) { return __bfloat162float(x); }
  static float round(float x) { return widen(from(x)); }
};
template <>
struct Storage<f16> {
  static constexpr double kEps = 1.0 / (1 << 10);  // 11-bit significand
  static constexpr const char* kName = "f16";
  static f16 from(float x) { return __float2half_rn(x); }
  static float widen(f16 x) { return __half2float(x); }
  static float round(float x) { return widen(from(x)); }
};

template <typename T>
std::vector<float> round_to(std::vector<float> v) {
  for (float& x : v) x = Storage<T>::round(x);
  return v;
}

// n elements of T starting `offset` elements into an allocation (offset 1 puts a bf16 tensor 2
// bytes off 16-byte alignment, as a weight in a flat parameter buffer may be).
template <typename T>
class OffsetBuffer {
 public:
  OffsetBuffer(std::size_t n, std::size_t offset) : buf_(n + offset), offset_(offset), n_(n) {}
  T* get() const { return buf_.get() + offset_; }
  std::size_t size() const { return n_; }
  void upload(const std::vector<float>& v) {
    BOOST_TEST_REQUIRE(v.size() == n_);
    std::vector<T> h(n_);
    for (std::size_t i = 0; i < n_; i++) h[i] = Storage<T>::from(v[i]);
    LLMRT_CUDA_CHECK(cudaMemcpy(get(), h.data(), n_ * sizeof(T), cudaMemcpyHostToDevice));
    // A pageable copy may return before its DMA lands, and the kernels run on non-blocking
    // streams that do not wait for the legacy stream: wait here.
    LLMRT_CUDA_CHECK(cudaDeviceSynchronize());
  }
  // Waits for the device (every stream), then copies back as fp32.
  std::vector<float> download() const {
    LLMRT_CUDA_CHECK(cudaDeviceSynchronize());
    std::vector<T> h(n_);
    LLMRT_CUDA_CHECK(cudaMemcpy(h.data(), get(), n_ * sizeof(T), cudaMemcpyDeviceToHost));
    std::vector<float> out(n_);
    for (std::size_t i = 0; i < n_; i++) out[i] = Storage<T>::widen(h[i]);
    return out;
  }

 private:
  DeviceBuffer<T> buf_;
  std::size_t offset_, n_;
};

template <typename T>
OffsetBuffer<T> device_copy(const std::vector<float>& v, std::size_t offset = 0) {
  OffsetBuffer<T> d(v.size(), offset);
  d.upload(v);
  return d;
}

// Ulps by which CUDA's expf/tanhf/rsqrtf may differ from the host libm's, amplified through a
// kernel's formula: a floor that matters at fp32 storage only.
inline constexpr double kMathUlps32 = 16;

// to_device for integer and scalar inputs (tokens, targets, a device dloss), waiting for the copy
// as OffsetBuffer::upload does.
template <typename T>
DeviceBuffer<T> device_vector(const std::vector<T>& v) {
  DeviceBuffer<T> d = to_device(v);
  LLMRT_CUDA_CHECK(cudaDeviceSynchronize());
  return d;
}

// |got - want| <= (factor * eps_T + 4 * eps32 * reduction_len + kMathUlps32 * eps32) *
// (|want| + rms(want)) element-wise: the first term is T storage (each stored result rounds
// once; factor counts the roundings of a fused chain's T inputs; 0 for fp32 outputs), the second
// fp32 accumulation over reduction_len terms, the third the device's transcendental functions.
// eps_storage: the storage type's epsilon (given at run time: the op table's dtype).
inline void check_close_eps(const std::vector<float>& got, const std::vector<float>& want, double reduction_len,
                            const std::string& name, double factor, double eps_storage) {
  using llmrt::kernels::test::kEps32;
  using llmrt::kernels::test::rms;
  BOOST_TEST_REQUIRE(got.size() == want.size(), name << ": size mismatch");
  llmrt::kernels::test::require_nonzero(want, name + " CPU reference");
  llmrt::kernels::test::require_nonzero(got, name + " CUDA");
  const double scale = rms(want);
  const double tol = factor * eps_storage + 4 * kEps32 * reduction_len + kMathUlps32 * kEps32;
  int reported = 0;
  double worst = 0.0;
  for (std::size_t i = 0; i < got.size(); i++) {
    const double err = std::fabs(double(got[i]) - want[i]);
    worst = std::max(worst, err / (std::fabs(want[i]) + scale));
    if (!(err <= tol * (std::fabs(want[i]) + scale)) && reported++ < 5) {  // written so NaN fails
      BOOST_ERROR(name << "[" << i << "]: got " << got[i] << ", want " << want[i] << ", |err| " << err << " > "
                       << tol * (std::fabs(want[i]) + scale));
    }
  }
  BOOST_TEST_MESSAGE(name << ": worst relative error " << worst << " (allowed " << tol << ")");
}

// The same at storage type T.
template <typename T>
void check_close_t(const std::vector<float>& got, const std::vector<float>& want, double reduction_len,
                   const std::string& what, double factor = 2.0) {
  check_close_eps(got, want, reduction_len, what + " (" + Storage<T>::kName + ")", factor, Storage<T>::kEps);
}

// Bitwise equality, for two CUDA paths that must round identically (an overwrite variant and
// its += twin on a zeroed buffer, dloss by value and from the device).
inline void check_equal(const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
  BOOST_TEST_REQUIRE(got.size() == want.size(), what << ": size mismatch");
  llmrt::kernels::test::require_nonzero(want, what);
  int reported = 0;
  for (std::size_t i = 0; i < got.size(); i++) {
    if (!(got[i] == want[i]) && reported++ < 5) BOOST_ERROR(what << "[" << i << "]: " << got[i] << " != " << want[i]);
  }
}

}  // namespace llmrt::kernels::cuda_test
