#include "data/token_scan.h"

#include <algorithm>
#include <cstring>

namespace llmrt {
namespace {

// Ids per block: 8 KiB, held in L1 while it is reduced.
constexpr std::size_t kBlockTokens = 4096;

// The largest id of a block. A plain loop over a local array that the compiler vectorises at -O3:
// 8 ids per step on baseline x86-64 (SSE2 psubusw + paddw; pmaxuw where SSE4.1 is enabled).
std::uint16_t block_max(const std::uint16_t* ids, std::size_t count) {
  std::uint16_t largest = 0;
  for (std::size_t i = 0; i < count; ++i) largest = ids[i] > largest ? ids[i] : largest;
  return largest;
}

}  // namespace

std::size_t first_token_at_or_above(std::span<const std::byte> token_bytes, std::uint32_t limit) {
  const std::size_t count = token_bytes.size() / 2;
  if (limit > 0xFFFF) return count;  // no uint16 id reaches it
  alignas(64) std::uint16_t block[kBlockTokens];
  for (std::size_t first = 0; first < count; first += kBlockTokens) {
    const std::size_t n = std::min(kBlockTokens, count - first);
    // A copy, not a cast: the mapped bytes are not uint16 objects, and an 8 KiB copy costs
    // little beside reading them from memory.
    std::memcpy(block, token_bytes.data() + first * 2, n * 2);
    if (block_max(block, n) < limit) continue;
    for (std::size_t i = 0; i < n; ++i) {
      if (block[i] >= limit) return first + i;
    }
  }
  return count;
}

}  // namespace llmrt
