#include "data/window_order.h"

#include <bit>

namespace llmrt {
namespace {

constexpr std::uint64_t kPermutationSalt = 0x7065726d75746521ull;  // "permute!"
constexpr std::uint64_t kOffsetSalt = 0x6f66667365747321ull;       // "offsets!"

}  // namespace

std::uint64_t mix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

FeistelPermutation::FeistelPermutation(std::uint64_t n, std::uint64_t key) : n_(n) {
  // Two halves of half_bits_ each: 2^(2·half_bits) ≥ n.
  const int bits = n <= 1 ? 2 : static_cast<int>(std::bit_width(n - 1));
  half_bits_ = (bits + 1) / 2;
  half_mask_ = (std::uint64_t{1} << half_bits_) - 1;
  for (int r = 0; r < kRounds; ++r) round_keys_[r] = mix64(key ^ mix64(static_cast<std::uint64_t>(r) + 1));
}

std::uint64_t FeistelPermutation::encrypt(std::uint64_t value) const {
  std::uint64_t left = value >> half_bits_, right = value & half_mask_;
  for (std::uint64_t round_key : round_keys_) {
    const std::uint64_t next = left ^ (mix64(right ^ round_key) & half_mask_);
    left = right;
    right = next;
  }
  return (left << half_bits_) | right;
}

std::uint64_t FeistelPermutation::operator()(std::uint64_t index) const {
  // The network permutes [0, 2^(2·half_bits)); following the cycle from an index below n until
  // it comes back below n gives a permutation of [0, n).
  std::uint64_t value = encrypt(index);
  while (value >= n_) value = encrypt(value);
  return value;
}

std::int64_t WindowOrder::window_of(std::int64_t sequence) const {
  const std::int64_t index = sequence % windows_;
  if (!shuffle_) return index;
  const auto epoch = static_cast<std::uint64_t>(epoch_of(sequence));
  const FeistelPermutation permutation(static_cast<std::uint64_t>(windows_), mix64(seed_ ^ kPermutationSalt) ^ mix64(epoch));
  return static_cast<std::int64_t>(permutation(static_cast<std::uint64_t>(index)));
}

std::int64_t WindowOrder::epoch_offset(std::int64_t epoch, std::int64_t limit) const {
  if (!shuffle_ || limit <= 1) return 0;
  const std::uint64_t draw = mix64(mix64(seed_ ^ kOffsetSalt) ^ static_cast<std::uint64_t>(epoch));
  return static_cast<std::int64_t>(draw % static_cast<std::uint64_t>(limit));
}

}  // namespace llmrt
