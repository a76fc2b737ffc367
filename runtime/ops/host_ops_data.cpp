// The op table's data ops on the CPU: casts between f32, bf16 and f16 (llmrt/half.hpp's
// round-to-nearest-even, the GPU's rounding) and random fills from the counter-based stream.
#include "ops/host_ops.h"

#include <llmrt/half.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

namespace llmrt::host_ops {

const char* dtype_name(std::int32_t dtype) {
  switch (dtype) {
    case LLMRT_DTYPE_F32: return "f32";
    case LLMRT_DTYPE_BF16: return "bf16";
    case LLMRT_DTYPE_F16: return "f16";
    case LLMRT_DTYPE_I32: return "i32";
    case LLMRT_DTYPE_I64: return "i64";
    case LLMRT_DTYPE_U8: return "u8";
    default: return "unknown";
  }
}

void cast_cpu(const llmrt_cast_args& args) {
  const size_t n = static_cast<size_t>(args.count);
  if (args.src_dtype == LLMRT_DTYPE_F32) return from_float(args.out, static_cast<const float*>(args.in), args.dst_dtype, n);
  if (args.dst_dtype == LLMRT_DTYPE_F32) return to_float(static_cast<float*>(args.out), args.in, args.src_dtype, n);
  // 16 to 16 bits: through fp32, exact on the way in; in chunks so no (n) copy is made.
  constexpr size_t kChunk = 4096;
  std::vector<float> wide(std::min(n, kChunk));
  const auto* in = static_cast<const std::uint16_t*>(args.in);
  auto* out = static_cast<std::uint16_t*>(args.out);
  for (size_t i = 0; i < n; i += kChunk) {
    const size_t m = std::min(kChunk, n - i);
    to_float(wide.data(), in + i, args.src_dtype, m);
    from_float(out + i, wide.data(), args.dst_dtype, m);
  }
}

// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011), the
// generator of cuRAND and of torch's CUDA RNG: counter (index, 0), key (seed).
void philox4x32(std::uint64_t seed, std::uint64_t index, std::uint32_t out[4]) {
  std::uint32_t c[4] = {std::uint32_t(index), std::uint32_t(index >> 32), 0, 0};
  std::uint32_t k[2] = {std::uint32_t(seed), std::uint32_t(seed >> 32)};
  for (int round = 0; round < 10; ++round) {
    const std::uint64_t p0 = std::uint64_t(0xD2511F53u) * c[0], p1 = std::uint64_t(0xCD9E8D57u) * c[2];
    const std::uint32_t next[4] = {std::uint32_t(p1 >> 32) ^ c[1] ^ k[0], std::uint32_t(p1),
                                   std::uint32_t(p0 >> 32) ^ c[3] ^ k[1], std::uint32_t(p0)};
    for (int i = 0; i < 4; ++i) c[i] = next[i];
    k[0] += 0x9E3779B9u, k[1] += 0xBB67AE85u;
  }
  for (int i = 0; i < 4; ++i) out[i] = c[i];
}

void random_cpu(const llmrt_random_args& args) {
  const size_t n = static_cast<size_t>(args.count);
  constexpr double kTwoPi = 6.283185307179586;
  constexpr double kInv32 = 1.0 / 4294967296.0;
  std::vector<float> values(n);
  for (size_t i = 0; i < n; ++i) {
    std::uint32_t bits[4];
    philox4x32(args.seed, args.offset + i, bits);
    const double u1 = (double(bits[0]) + 0.5) * kInv32;  // (0, 1): log is finite
    if (args.kind == LLMRT_RANDOM_UNIFORM) {
      values[i] = float(args.a + (args.b - args.a) * (double(bits[0]) * kInv32));
    } else {
      const double u2 = double(bits[1]) * kInv32;
      values[i] = float(args.a + args.b * std::sqrt(-2.0 * std::log(u1)) * std::cos(kTwoPi * u2));
    }
  }
  from_float(args.out, values.data(), args.dtype, n);
}

}  // namespace llmrt::host_ops
