// 16-bit storage for mixed precision, header-only: bf16 and fp16 conversions that round to
// nearest-even exactly as the GPU's __float2bfloat16_rn and __float2half_rn do, so a CPU layer
// that stores a tensor in 16 bits keeps the same bits a GPU layer keeps. The host converts its
// fp32 master weights with these; plugins use them to run bf16/fp16 tensors with fp32
// arithmetic. Nothing here crosses the C boundary.
#pragma once

#include <llmrt/plugin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace llmrt {
inline namespace plugin_v1 {

namespace half_detail {
inline std::uint32_t bits_of(float value) {
  std::uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}
inline float float_of(std::uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}
}  // namespace half_detail

// bf16 is the top half of an fp32; the lower 16 bits round the kept half to nearest-even.
inline std::uint16_t bf16_from_float(float value) {
  const std::uint32_t bits = half_detail::bits_of(value);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((bits >> 16) | 0x40u);  // quiet NaN
  return static_cast<std::uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}
inline float float_from_bf16(std::uint16_t bits) { return half_detail::float_of(std::uint32_t(bits) << 16); }

// IEEE binary16: 5 exponent bits (bias 15), 10 mantissa bits, largest finite 65504; anything
// from 65520 up overflows to inf (what a loss scaler watches for); below 2^-14 it is subnormal.
inline std::uint16_t f16_from_float(float value) {
  const std::uint32_t bits = half_detail::bits_of(value);
  const std::uint16_t sign = static_cast<std::uint16_t>((bits >> 16) & 0x8000u);
  const std::uint32_t magnitude = bits & 0x7fffffffu;
  if (magnitude > 0x7f800000u) return static_cast<std::uint16_t>(sign | 0x7e00u | ((magnitude >> 13) & 0x3ffu));
  if (magnitude >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);  // >= 65520: inf
  std::uint32_t kept, dropped, half;
  if (magnitude >= 0x38800000u) {  // normal: rebias the exponent (127 -> 15), drop 13 mantissa bits
    kept = (magnitude >> 13) - (112u << 10);
    dropped = magnitude & 0x1fffu;
    half = 0x1000u;
  } else {                         // subnormal or zero: units of 2^-24
    const std::uint32_t exponent = magnitude >> 23;
    if (exponent < 102) return sign;  // below 2^-25: rounds to zero
    const std::uint32_t mantissa = (magnitude & 0x7fffffu) | 0x800000u;
    const std::uint32_t shift = 126 - exponent;  // 14..24
    kept = mantissa >> shift;
    dropped = mantissa & ((1u << shift) - 1u);
    half = 1u << (shift - 1);
  }
  if (dropped > half || (dropped == half && (kept & 1u) != 0)) ++kept;  // may carry into the exponent: still right
  return static_cast<std::uint16_t>(sign | kept);
}
inline float float_from_f16(std::uint16_t bits) {
  const std::uint32_t sign = std::uint32_t(bits & 0x8000u) << 16;
  const std::uint32_t exponent = (bits >> 10) & 0x1fu, mantissa = bits & 0x3ffu;
  if (exponent == 0) {  // zero or subnormal: mantissa · 2^-24, exact in fp32
    const float magnitude = static_cast<float>(mantissa) * 5.9604644775390625e-8f;
    return sign != 0 ? -magnitude : magnitude;
  }
  if (exponent == 31) return half_detail::float_of(sign | 0x7f800000u | (mantissa << 13));
  return half_detail::float_of(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

// True for the dtypes these helpers convert: f32 (a copy), bf16 and f16.
inline bool is_float_storage(int32_t dtype) {
  return dtype == LLMRT_DTYPE_F32 || dtype == LLMRT_DTYPE_BF16 || dtype == LLMRT_DTYPE_F16;
}

// out: (n) f32; in: (n) elements of `dtype` (f32, bf16 or f16).
inline void to_float(float* out, const void* in, int32_t dtype, std::size_t n) {
  if (dtype == LLMRT_DTYPE_F32) {
    if (n > 0 && out != in) std::memmove(out, in, n * sizeof(float));
    return;
  }
  const auto* stored = static_cast<const std::uint16_t*>(in);
  if (dtype == LLMRT_DTYPE_BF16) {
    for (std::size_t i = 0; i < n; ++i) out[i] = float_from_bf16(stored[i]);
  } else {
    for (std::size_t i = 0; i < n; ++i) out[i] = float_from_f16(stored[i]);
  }
}

// out: (n) elements of `dtype` (f32, bf16 or f16), rounded to nearest-even; in: (n) f32.
inline void from_float(void* out, const float* in, int32_t dtype, std::size_t n) {
  if (dtype == LLMRT_DTYPE_F32) {
    if (n > 0 && out != in) std::memmove(out, in, n * sizeof(float));
    return;
  }
  auto* stored = static_cast<std::uint16_t*>(out);
  if (dtype == LLMRT_DTYPE_BF16) {
    for (std::size_t i = 0; i < n; ++i) stored[i] = bf16_from_float(in[i]);
  } else {
    for (std::size_t i = 0; i < n; ++i) stored[i] = f16_from_float(in[i]);
  }
}

// data: (n) f32, each replaced by what storing it as `dtype` keeps (f32: unchanged).
inline void round_to(float* data, int32_t dtype, std::size_t n) {
  if (dtype == LLMRT_DTYPE_BF16) {
    for (std::size_t i = 0; i < n; ++i) data[i] = float_from_bf16(bf16_from_float(data[i]));
  } else if (dtype == LLMRT_DTYPE_F16) {
    for (std::size_t i = 0; i < n; ++i) data[i] = float_from_f16(f16_from_float(data[i]));
  }
}

}  // namespace plugin_v1
}  // namespace llmrt
