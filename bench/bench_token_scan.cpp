// What the out-of-vocabulary scan adds to `check` and `run` before step 1: check_token_shards
// (map, headers, scan) over real shards, and the scan alone over the same ids in memory beside a
// plain id-by-id loop. Results: docs/PERFORMANCE.md.
//   bench_token_scan SHARD_GLOB [VOCAB] [REPEATS]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "data/token_scan.h"
#include "data/token_shards.h"

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The reference loop the vectorised scan replaces: one id at a time, stop at the first bad one.
std::size_t scalar_scan(const std::vector<std::uint16_t>& ids, std::uint32_t limit) {
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] >= limit) return i;
  }
  return ids.size();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s SHARD_GLOB [VOCAB] [REPEATS]\n", argv[0]);
    return 2;
  }
  const std::string pattern = argv[1];
  const std::int64_t vocab = argc > 2 ? std::atoll(argv[2]) : 50257;
  const int repeats = argc > 3 ? std::atoi(argv[3]) : 5;
  std::int64_t tokens = 0;
  for (int r = 0; r < repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    auto summary = llmrt::check_token_shards(pattern, "data.train", vocab, 1024);
    const double s = seconds_since(start);
    if (!summary.ok()) {
      std::fprintf(stderr, "%s\n", summary.error().message().c_str());
      return 1;
    }
    tokens = summary->tokens;
    std::printf("check_token_shards: %zu files, %lld tokens: %.1f ms (%.2f GB/s)\n", summary->files,
                static_cast<long long>(tokens), s * 1e3, 2.0 * tokens / s / 1e9);
  }
  // The same number of ids, in memory (no mapping, no page faults), all below the vocabulary.
  std::vector<std::uint16_t> ids(static_cast<std::size_t>(tokens));
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<std::uint16_t>(i * 7919 % vocab);
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(ids.data()), ids.size() * 2);
  for (int r = 0; r < repeats; ++r) {
    auto start = std::chrono::steady_clock::now();
    const std::size_t found = llmrt::first_token_at_or_above(bytes, static_cast<std::uint32_t>(vocab));
    const double vectorised = seconds_since(start);
    start = std::chrono::steady_clock::now();
    const std::size_t reference = scalar_scan(ids, static_cast<std::uint32_t>(vocab));
    const double scalar = seconds_since(start);
    if (found != reference) return 1;
    std::printf("in memory: scan %.1f ms (%.2f GB/s), id-by-id loop %.1f ms (%.2f GB/s)\n", vectorised * 1e3,
                2.0 * tokens / vectorised / 1e9, scalar * 1e3, 2.0 * tokens / scalar / 1e9);
  }
  return 0;
}
