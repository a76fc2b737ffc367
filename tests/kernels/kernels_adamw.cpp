// AdamW (both twins) against two steps worked out from torch.optim.AdamW's update rule:
//   p <- p * (1 - lr * wd);  m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
//   p <- p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps).
#define BOOST_TEST_MODULE kernels_adamw
#include <boost/test/unit_test.hpp>

#include "cpu/kernels_cpu.h"
#include "kernels/kernel_test_util.h"
#include "ref/kernels_ref.h"

namespace ref = llmrt::kernels::ref;
namespace cpu = llmrt::kernels::cpu;
using namespace llmrt::kernels::test;

namespace {
constexpr float kLr = 0.1f, kBeta1 = 0.9f, kBeta2 = 0.999f, kEps = 1e-8f, kWd = 0.01f;

using AdamW = void (*)(float*, const float*, float*, float*, std::size_t, float, float, float, float,
                       float, int);

// Two steps on three parameters; the first parameter's values are derived by hand below.
void run_two_steps(AdamW adamw, std::vector<float>& p, std::vector<float>& m, std::vector<float>& v) {
  p = {1.0f, -2.0f, 0.5f};
  m = {0.0f, 0.0f, 0.0f};
  v = {0.0f, 0.0f, 0.0f};
  const std::vector<float> g1 = {0.5f, 0.125f, -3.0f}, g2 = {-0.25f, 0.125f, 1.0f};
  adamw(p.data(), g1.data(), m.data(), v.data(), 3, kLr, kBeta1, kBeta2, kEps, kWd, 1);
  adamw(p.data(), g2.data(), m.data(), v.data(), 3, kLr, kBeta1, kBeta2, kEps, kWd, 2);
}

void check_hand_example(AdamW adamw, const std::string& who) {
  std::vector<float> p, m, v;
  run_two_steps(adamw, p, m, v);
  // Parameter 0: p = 1, g1 = 0.5, g2 = -0.25.
  // Step 1: decay p = 1 * (1 - 0.1 * 0.01) = 0.999; m = 0.05; v = 0.001 * 0.25 = 0.00025;
  //   mhat = 0.05 / 0.1 = 0.5; vhat = 0.00025 / 0.001 = 0.25, sqrt 0.5;
  //   p = 0.999 - 0.1 * 0.5 / 0.5 = 0.899 (eps moves it by 2e-9).
  // Step 2: decay p = 0.899 * 0.999 = 0.898101; m = 0.045 - 0.025 = 0.02;
  //   v = 0.999 * 0.00025 + 0.001 * 0.0625 = 0.00031225;
  //   mhat = 0.02 / 0.19 = 0.1052631579; vhat = 0.00031225 / 0.001999 = 0.1562031016, sqrt 0.3952254;
  //   p = 0.898101 - 0.1 * 0.1052631579 / 0.3952254 = 0.898101 - 0.0266337 = 0.8714673.
  // fp32 state after two steps: a few ulps of each value.
  const double tol = 16 * kEps32;
  BOOST_TEST(std::fabs(p[0] - 0.8714673) < tol * 0.8714673 + 1e-7, who << " p0 " << p[0]);
  BOOST_TEST(std::fabs(m[0] - 0.02) < tol * 0.02 + 1e-9, who << " m0 " << m[0]);
  // The hand values use exact decimals; the kernel gets 0.999f, and 1 - 0.999f is off from
  // 0.001 by ~1.3e-5 relative (cancellation), which v inherits directly.
  const double beta2_repr = std::fabs(double(kBeta2) - 0.999) / 0.001;
  BOOST_TEST(std::fabs(v[0] - 0.00031225) < (tol + beta2_repr) * 0.00031225, who << " v0 " << v[0]);
  // The other parameters from the same formula, evaluated in double here.
  const double g1[3] = {0.5, 0.125, -3.0}, g2[3] = {-0.25, 0.125, 1.0};
  const double p0[3] = {1.0, -2.0, 0.5};
  for (int i = 0; i < 3; i++) {
    double pi = p0[i], mi = 0.0, vi = 0.0;
    for (int t = 1; t <= 2; t++) {
      const double g = t == 1 ? g1[i] : g2[i];
      pi *= 1.0 - double(kLr) * kWd;
      mi = double(kBeta1) * mi + (1.0 - kBeta1) * g;
      vi = double(kBeta2) * vi + (1.0 - kBeta2) * g * g;
      const double mhat = mi / (1.0 - std::pow(double(kBeta1), t));
      const double vhat = vi / (1.0 - std::pow(double(kBeta2), t));
      pi -= double(kLr) * mhat / (std::sqrt(vhat) + kEps);
    }
    BOOST_TEST(std::fabs(p[i] - pi) < tol * std::fabs(pi), who << " p[" << i << "] " << p[i] << " vs " << pi);
    BOOST_TEST(std::fabs(m[i] - mi) < tol * std::fabs(mi), who << " m[" << i << "]");
    BOOST_TEST(std::fabs(v[i] - vi) < tol * std::fabs(vi), who << " v[" << i << "]");
  }
}
}  // namespace

BOOST_AUTO_TEST_CASE(ref_adamw_two_steps_by_hand) { check_hand_example(&ref::adamw_update, "ref"); }

BOOST_AUTO_TEST_CASE(cpu_adamw_two_steps_by_hand) { check_hand_example(&cpu::adamw_update, "cpu"); }

BOOST_AUTO_TEST_CASE(weight_decay_is_decoupled) {
  // With a zero gradient Adam's step is 0 / (0 + eps) = 0, so only the decay moves p: exactly
  // p * (1 - lr * wd), not the L2 form that would feed wd * p through m and v.
  std::vector<float> p = {3.0f, -1.5f}, g = {0.0f, 0.0f}, m = {0.0f, 0.0f}, v = {0.0f, 0.0f};
  ref::adamw_update(p.data(), g.data(), m.data(), v.data(), 2, kLr, kBeta1, kBeta2, kEps, kWd, 1);
  BOOST_TEST(std::fabs(p[0] - 3.0 * 0.999) < 4 * kEps32 * 3.0);
  BOOST_TEST(std::fabs(p[1] + 1.5 * 0.999) < 4 * kEps32 * 1.5);
  BOOST_TEST(m[0] == 0.0f);
  BOOST_TEST(v[0] == 0.0f);
}
