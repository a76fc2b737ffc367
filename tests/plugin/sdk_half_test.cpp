// The SDK's bf16 and fp16 conversions (llmrt/half.hpp) against values worked out from the IEEE
// formats — round to nearest-even, fp16 overflow to inf, subnormals, NaN — and fp16 against the
// compiler's own _Float16 conversion over a sweep of fp32 bit patterns.
#define BOOST_TEST_MODULE sdk_half
#include <boost/test/unit_test.hpp>

#include <llmrt/half.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

using namespace llmrt;

BOOST_AUTO_TEST_CASE(bf16_rounds_to_nearest_even) {
  BOOST_TEST(bf16_from_float(1.0f) == 0x3f80);
  // bf16 keeps 7 mantissa bits: 1 + 2^-8 is halfway between 1 and 1 + 2^-7 -> even (1).
  BOOST_TEST(bf16_from_float(1.0f + std::ldexp(1.0f, -8)) == 0x3f80);
  // 1 + 3·2^-8 is halfway between 1 + 2^-7 and 1 + 2^-6 -> even (mantissa 0x02).
  BOOST_TEST(bf16_from_float(1.0f + 3 * std::ldexp(1.0f, -8)) == 0x3f82);
  BOOST_TEST(bf16_from_float(1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -20)) == 0x3f81);
  BOOST_TEST(bf16_from_float(-2.0f) == 0xc000);
  BOOST_TEST(float_from_bf16(0x3f81) == 1.0f + std::ldexp(1.0f, -7));
  BOOST_TEST(std::isinf(float_from_bf16(bf16_from_float(std::numeric_limits<float>::infinity()))));
  BOOST_TEST(std::isnan(float_from_bf16(bf16_from_float(std::nanf("")))));
  BOOST_TEST(std::isinf(float_from_bf16(bf16_from_float(std::numeric_limits<float>::max()))));
}

BOOST_AUTO_TEST_CASE(f16_rounds_overflows_and_keeps_subnormals) {
  BOOST_TEST(f16_from_float(1.0f) == 0x3c00);
  BOOST_TEST(f16_from_float(65504.0f) == 0x7bff);               // the largest finite half
  BOOST_TEST(f16_from_float(65519.99f) == 0x7bff);
  BOOST_TEST(f16_from_float(65520.0f) == 0x7c00);               // halfway to 2^16 -> inf
  BOOST_TEST(f16_from_float(-1e6f) == 0xfc00);                  // -inf
  BOOST_TEST(f16_from_float(std::ldexp(1.0f, -24)) == 0x0001);  // the smallest subnormal
  BOOST_TEST(f16_from_float(std::ldexp(1.0f, -25)) == 0x0000);  // halfway to it -> even (0)
  BOOST_TEST(f16_from_float(std::ldexp(1.5f, -25)) == 0x0001);
  BOOST_TEST(f16_from_float(std::ldexp(1.0f, -14)) == 0x0400);  // the smallest normal
  BOOST_TEST(f16_from_float(1.0f + std::ldexp(1.0f, -11)) == 0x3c00);  // tie -> even
  BOOST_TEST(float_from_f16(0x3555) == 0x1.554p-2f);
  BOOST_TEST(float_from_f16(0x0001) == std::ldexp(1.0f, -24));
  BOOST_TEST(float_from_f16(0x8000) == -0.0f);
  BOOST_TEST(std::signbit(float_from_f16(0x8000)));
  BOOST_TEST(std::isnan(float_from_f16(f16_from_float(std::nanf("")))));
}

BOOST_AUTO_TEST_CASE(f16_matches_the_compilers_conversion) {
  std::size_t mismatches = 0, checked = 0;
  // Every 4099th fp32 bit pattern (all exponents, both signs) plus every fp16 value widened.
  for (std::uint64_t pattern = 0; pattern <= 0xffffffffull; pattern += 4099) {
    float value;
    const auto bits = static_cast<std::uint32_t>(pattern);
    std::memcpy(&value, &bits, sizeof value);
    if (std::isnan(value)) continue;
    const _Float16 expected = static_cast<_Float16>(value);
    std::uint16_t expected_bits;
    std::memcpy(&expected_bits, &expected, sizeof expected_bits);
    mismatches += f16_from_float(value) != expected_bits;
    ++checked;
  }
  for (std::uint32_t h = 0; h < 0x10000; ++h) {
    _Float16 half;
    const auto bits = static_cast<std::uint16_t>(h);
    std::memcpy(&half, &bits, sizeof half);
    const float expected = static_cast<float>(half), got = float_from_f16(bits);
    if (std::isnan(expected)) mismatches += !std::isnan(got);
    else mismatches += std::memcmp(&expected, &got, sizeof got) != 0;
  }
  BOOST_TEST(checked > 1000000u);
  BOOST_TEST(mismatches == 0u);
}

BOOST_AUTO_TEST_CASE(bulk_conversions_match_the_scalar_ones) {
  const std::size_t n = 10000;
  std::vector<float> values(n);
  for (std::size_t i = 0; i < n; ++i) values[i] = std::sin(float(i) * 0.37f) * std::ldexp(1.0f, int(i % 40) - 20);
  for (int32_t dtype : {LLMRT_DTYPE_BF16, LLMRT_DTYPE_F16}) {
    std::vector<std::uint16_t> stored(2 * n);  // room for f32 too: the compiler cannot see dtype is 16-bit
    std::vector<float> back(n), rounded = values;
    from_float(stored.data(), values.data(), dtype, n);
    to_float(back.data(), stored.data(), dtype, n);
    round_to(rounded.data(), dtype, n);
    std::size_t mismatches = 0, changed = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint16_t one = dtype == LLMRT_DTYPE_BF16 ? bf16_from_float(values[i]) : f16_from_float(values[i]);
      if (one != stored[i] || back[i] != rounded[i]) ++mismatches;
      if (rounded[i] != values[i]) ++changed;
    }
    BOOST_TEST(mismatches == 0u);
    BOOST_TEST(changed > n / 2);  // rounding to 16 bits changes most values: the test would see a no-op
  }
  std::vector<float> copy(n);
  to_float(copy.data(), values.data(), LLMRT_DTYPE_F32, n);
  BOOST_TEST(copy == values);
}
