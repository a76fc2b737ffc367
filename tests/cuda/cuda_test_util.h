// Shared helpers of the CUDA kernel tests: the no-GPU skip, host<->device copies through bf16,
// and comparisons whose tolerance is stated in bf16 epsilons (plus fp32 accumulation error).
// Random inputs and the non-zero guards come from the CPU kernel tests' helpers.
#pragma once

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "cuda/kernels_cuda.h"
#include "kernels/kernel_test_util.h"

bool init_unit_test();  // defined by Boost.Test in the file that defines BOOST_TEST_MODULE

namespace llmrt::kernels::cuda_test {

namespace cu = llmrt::kernels::cuda;
using cu::bf16;
using cu::DeviceBuffer;

inline constexpr double kEpsBf16 = 1.0 / 128;  // 2^-7, bf16 machine epsilon (8-bit significand)

// The test binary's main: exits 77 (CTest's SKIP) with a clear line when there is no GPU, so a
// CPU-only machine reports these tests as skipped rather than passed or failed.
inline int run_unless_no_device(int argc, char** argv) {
  if (cu::cuda_device_count() == 0) {
    std::printf("no CUDA device: skipping %s\n", argc > 0 ? argv[0] : "CUDA tests");
    return 77;
  }
  return boost::unit_test::unit_test_main(&init_unit_test, argc, argv);
}

// Rounds every value through bf16, so the CPU reference sees exactly what the GPU sees.
inline std::vector<float> round_bf16(std::vector<float> v) {
  for (float& x : v) x = __bfloat162float(__float2bfloat16(x));
  return v;
}

inline DeviceBuffer<bf16> to_device_bf16(const std::vector<float>& v) {
  std::vector<bf16> h(v.size());
  for (std::size_t i = 0; i < v.size(); i++) h[i] = __float2bfloat16(v[i]);
  DeviceBuffer<bf16> d(v.size());
  d.upload(h.data(), h.size());
  return d;
}

template <typename T>
DeviceBuffer<T> to_device(const std::vector<T>& v) {
  DeviceBuffer<T> d(v.size());
  d.upload(v.data(), v.size());
  return d;
}

// Waits for the device, then copies back as fp32.
inline std::vector<float> to_host(const DeviceBuffer<bf16>& d) {
  LLMRT_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<bf16> h(d.size());
  d.download(h.data(), h.size());
  std::vector<float> out(h.size());
  for (std::size_t i = 0; i < h.size(); i++) out[i] = __bfloat162float(h[i]);
  return out;
}

inline std::vector<float> to_host(const DeviceBuffer<float>& d) {
  LLMRT_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<float> out(d.size());
  d.download(out.data(), out.size());
  return out;
}

// Element-wise |got - want| <= (factor * eps_bf16 + 4 * eps32 * reduction_len) * (|want| + rms(want)).
// The first term is bf16 storage (each stored result, and each bf16 input to a fused chain,
// rounds once); the second is fp32 accumulation over reduction_len terms. rms(want) stands in
// for the terms' magnitude where a single result cancels to near zero.
inline void check_close_bf16(const std::vector<float>& got, const std::vector<float>& want,
                             double reduction_len, const std::string& what, double factor = 2.0) {
  using llmrt::kernels::test::kEps32;
  using llmrt::kernels::test::rms;
  BOOST_TEST_REQUIRE(got.size() == want.size(), what << ": size mismatch");
  llmrt::kernels::test::require_nonzero(want, what + " (CPU reference)");
  llmrt::kernels::test::require_nonzero(got, what + " (CUDA)");
  const double scale = rms(want), tol = factor * kEpsBf16 + 4 * kEps32 * reduction_len;
  int reported = 0;
  double worst = 0.0;
  for (std::size_t i = 0; i < got.size(); i++) {
    const double err = std::fabs(double(got[i]) - want[i]);
    worst = std::max(worst, err / (std::fabs(want[i]) + scale));
    if (!(err <= tol * (std::fabs(want[i]) + scale)) && reported++ < 5) {  // written so NaN fails
      BOOST_ERROR(what << "[" << i << "]: got " << got[i] << ", want " << want[i] << ", |err| " << err
                       << " > " << tol * (std::fabs(want[i]) + scale));
    }
  }
  BOOST_TEST_MESSAGE(what << ": worst relative error " << worst << " (allowed " << tol << ")");
}

}  // namespace llmrt::kernels::cuda_test

// Each test file ends with this: Boost.Test's main is replaced by one that can skip.
#define LLMRT_CUDA_TEST_MAIN() \
  int main(int argc, char** argv) { return llmrt::kernels::cuda_test::run_unless_no_device(argc, argv); }
