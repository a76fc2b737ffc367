// The order in which training reads the data's windows (T + 1 tokens at stride T): global
// sequence g falls in epoch e = g / N and reads window π_e(g mod N), where π_e is a permutation
// of [0, N) drawn from (seed, e). Pure arithmetic: any rank computes any sequence's window
// alone, in O(1) memory, the same on every machine.
#pragma once

#include <cstdint>

namespace llmrt {

// splitmix64's finaliser: a well-mixed 64-bit hash, the source of every random choice here.
std::uint64_t mix64(std::uint64_t x);

// A bijection of [0, n) chosen by `key`: a balanced Feistel network on the smallest even number
// of bits that covers n (at most 4n values), cycle-walked back into [0, n) (fewer than 4 rounds
// of the network on average). O(1) memory where an explicit permutation of a large corpus's
// windows would take 8 bytes each on every rank.
class FeistelPermutation {
 public:
  FeistelPermutation(std::uint64_t n, std::uint64_t key);
  std::uint64_t operator()(std::uint64_t index) const;  // index < n

 private:
  static constexpr int kRounds = 6;
  std::uint64_t encrypt(std::uint64_t value) const;
  std::uint64_t n_;
  int half_bits_ = 1;
  std::uint64_t half_mask_ = 1;
  std::uint64_t round_keys_[kRounds] = {};
};

class WindowOrder {
 public:
  // windows: N > 0. shuffle = false: the contiguous order (window g mod N, offset 0).
  WindowOrder(std::int64_t windows, bool shuffle, std::uint64_t seed)
      : windows_(windows), shuffle_(shuffle), seed_(seed) {}

  std::int64_t windows() const { return windows_; }
  std::int64_t epoch_of(std::int64_t sequence) const { return sequence / windows_; }
  // The window global sequence `sequence` (≥ 0) reads, in [0, N).
  std::int64_t window_of(std::int64_t sequence) const;
  // Where the epoch's windows start, in [0, limit): later epochs cut the text at other places.
  // 0 in contiguous order or when limit ≤ 1.
  std::int64_t epoch_offset(std::int64_t epoch, std::int64_t limit) const;

 private:
  std::int64_t windows_;
  bool shuffle_;
  std::uint64_t seed_;
};

}  // namespace llmrt
