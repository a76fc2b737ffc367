// Internal to kernels/cpu: an fp32 exp the compiler can vectorise. glibc's expf is a call per
// element, so loops over softmax rows, GELU and cross-entropy stayed scalar around it.
#pragma once

#include <bit>
#include <cstdint>

namespace llmrt::kernels::cpu::detail {

// exp(x) within 0.7 FLT_EPSILON relative for normal results (measured), after Cephes expf:
// x = n ln2 + r with |r| <= ln2 / 2, a degree-6 polynomial for e^r, 2^n built in the exponent
// bits. Below about -87.3 it returns 0 or a denormal (exp(-inf) = 0), above 88.37 inf; NaN
// stays NaN. The ends come from the
// clamps alone (2^n's biased exponent lands on 0 or 255), with no select on the result: a
// select there lets GCC sink the polynomial into a branch, and the loop then stays scalar.
inline float fast_exp(float x) {
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  constexpr float kLo = -88.0f;          // n = -127: biased exponent 0, 2^n reads as 0
  constexpr float kHi = 89.0f;           // n = 128: biased exponent 255, 2^n reads as inf
  float xc = x < kLo ? kLo : x;  // written so NaN passes through both clamps
  xc = xc > kHi ? kHi : xc;
  const float n = (xc * kLog2e + kRound) - kRound;
  const float r = (xc - n * kLn2Hi) - n * kLn2Lo;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  return p * std::bit_cast<float>((std::int32_t(n) + 127) << 23);
}

}  // namespace llmrt::kernels::cpu::detail
