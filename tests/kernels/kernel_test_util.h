// Shared helpers of the kernel tests: seeded random non-zero inputs, comparisons whose tolerance
// is stated in fp32 epsilons times the reduction length, and guards against vacuous passes.
#pragma once

#include <boost/test/unit_test.hpp>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace llmrt::kernels::test {

inline constexpr double kEps32 = FLT_EPSILON;  // 2^-23, fp32 machine epsilon

// Uniform in [lo, hi); the default range keeps layernorm, softmax and tanh out of saturation.
inline std::vector<float> random_floats(std::size_t n, std::mt19937& rng, float lo = -1.0f,
                                        float hi = 1.0f) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

inline std::vector<std::int32_t> random_tokens(std::size_t n, int V, std::mt19937& rng) {
  std::uniform_int_distribution<std::int32_t> dist(0, V - 1);
  std::vector<std::int32_t> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

inline double rms(const std::vector<float>& v) {
  double s = 0.0;
  for (float x : v) s += double(x) * x;
  return v.empty() ? 0.0 : std::sqrt(s / v.size());
}

// A test that compares zeros with zeros proves nothing: every checked tensor must be non-zero.
inline void require_nonzero(const std::vector<float>& v, const std::string& what) {
  BOOST_TEST_REQUIRE(rms(v) > 1e-6, what << " is (almost) all zeros, rms " << rms(v));
}

// Element-wise |got - want| <= factor * eps32 * reduction_len * (|want| + rms(want)).
// Summing L terms in fp32 gives an error bound of ~L * eps32 times the terms' magnitude; the
// rms term stands in for that magnitude where a single result cancels to near zero.
inline void check_close(const std::vector<float>& got, const std::vector<float>& want,
                        double reduction_len, const std::string& what, double factor = 4.0) {
  BOOST_TEST_REQUIRE(got.size() == want.size(), what << ": size mismatch");
  require_nonzero(want, what + " (reference)");
  require_nonzero(got, what + " (fast)");
  const double scale = rms(want);
  const double tol = factor * kEps32 * reduction_len;
  int reported = 0;
  double worst = 0.0;
  for (std::size_t i = 0; i < got.size(); i++) {
    const double err = std::fabs(double(got[i]) - want[i]);
    const double allowed = tol * (std::fabs(want[i]) + scale);
    worst = std::max(worst, err / (std::fabs(want[i]) + scale));
    if (!(err <= allowed) && reported++ < 5) {  // written so NaN fails
      BOOST_ERROR(what << "[" << i << "]: got " << got[i] << ", want " << want[i] << ", |err| "
                       << err << " > " << allowed);
    }
  }
  BOOST_TEST_MESSAGE(what << ": worst relative error " << worst << " (allowed " << tol << ")");
}

}  // namespace llmrt::kernels::test
