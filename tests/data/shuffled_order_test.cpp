// The shuffled window order: within an epoch a permutation of the windows (each once), the same
// for a seed on any run, another for another seed or epoch, with every data-parallel replica's
// slice of a step disjoint from the others'; and the Feistel bijection under it on odd sizes.
#define BOOST_TEST_MODULE data_shuffled_order
#include <boost/test/unit_test.hpp>

#include <set>
#include <vector>

#include "data/token_shards.h"
#include "data/window_order.h"
#include "support/process.h"

using namespace llmrt;
using llmrt::test::TempDir;

namespace {

constexpr std::int64_t kSeq = 7;

// Two shards whose token at every position is a distinct id (its position over both files):
// a sequence's first input says which window, and at what offset, it read.
std::unique_ptr<TokenSource> open_numbered(const TempDir& dir, std::uint64_t seed, bool shuffle = true) {
  std::vector<std::uint16_t> a(1000), b(613);  // 142 and 87 windows, with slack for the offsets
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = static_cast<std::uint16_t>(i);
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<std::uint16_t>(10000 + i);
  BOOST_REQUIRE(write_token_shard(dir.path() + "/n_0.bin", a).ok());
  BOOST_REQUIRE(write_token_shard(dir.path() + "/n_1.bin", b).ok());
  auto source = open_token_shards(dir.path() + "/n_*.bin", "data.train", 20000, kSeq, ShardOrder{shuffle, seed});
  BOOST_REQUIRE_MESSAGE(source.ok(), (source.ok() ? std::string() : source.error().message()));
  return std::move(*source);
}

// The first token of each of sequences first .. first + count − 1.
std::vector<std::int32_t> starts(TokenSource& source, std::int64_t first, std::int64_t count) {
  auto batch = source.sequences_at(first, count);
  BOOST_REQUIRE(batch.ok());
  std::vector<std::int32_t> out;
  for (std::int64_t row = 0; row < count; ++row) {
    const std::size_t at = static_cast<std::size_t>(row * kSeq);
    out.push_back(batch->inputs[at]);
    // Each row is T + 1 consecutive tokens of one shard, targets shifted by one.
    BOOST_TEST(batch->inputs[at + kSeq - 1] == batch->inputs[at] + kSeq - 1);
    BOOST_TEST(batch->targets[at + kSeq - 1] == batch->inputs[at] + kSeq);
  }
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(an_epoch_reads_every_window_once_at_one_offset_per_shard) {
  TempDir dir("order_epoch");
  auto source = open_numbered(dir, 11);
  const std::int64_t n = source->windows();
  BOOST_REQUIRE(n == 142 + 87);
  for (std::int64_t epoch = 0; epoch < 3; ++epoch) {
    const std::vector<std::int32_t> first = starts(*source, epoch * n, n);
    const std::set<std::int32_t> distinct(first.begin(), first.end());
    BOOST_TEST(distinct.size() == static_cast<std::size_t>(n));  // no window twice, so all of them once
    std::set<std::int32_t> offsets[2];
    std::size_t in_second = 0;
    for (std::int32_t start : first) {
      const bool second = start >= 10000;
      offsets[second ? 1 : 0].insert((start - (second ? 10000 : 0)) % kSeq);
      in_second += second ? 1 : 0;
    }
    BOOST_TEST(in_second == 87u);
    BOOST_TEST(offsets[0].size() == 1u);  // one cut of each shard per epoch
    BOOST_TEST(offsets[1].size() == 1u);
  }
}

BOOST_AUTO_TEST_CASE(the_order_is_shuffled_repeatable_and_differs_by_seed_and_epoch) {
  TempDir dir("order_seed");
  auto a = open_numbered(dir, 11), again = open_numbered(dir, 11), other = open_numbered(dir, 12);
  const std::int64_t n = a->windows();
  const auto epoch0 = starts(*a, 0, n), epoch1 = starts(*a, n, n);
  BOOST_TEST(starts(*again, 0, n) == epoch0);
  BOOST_TEST(starts(*other, 0, n) != epoch0);
  BOOST_TEST(epoch1 != epoch0);
  // Not the file order: count places where a sequence follows its predecessor's window.
  int in_order = 0;
  for (std::size_t i = 1; i < epoch0.size(); ++i) in_order += epoch0[i] == epoch0[i - 1] + kSeq ? 1 : 0;
  BOOST_TEST(in_order < 10);
  // Later epochs cut the text elsewhere (the offsets of epochs 0-7 are not all one value).
  std::set<std::int32_t> offsets;
  for (std::int64_t epoch = 0; epoch < 8; ++epoch) offsets.insert(starts(*a, epoch * n, 1)[0] % kSeq);
  BOOST_TEST(offsets.size() > 1u);
}

BOOST_AUTO_TEST_CASE(data_parallel_replicas_read_disjoint_slices_of_a_step) {
  TempDir dir("order_dp");
  auto source = open_numbered(dir, 5);
  // The trainer's indexing: global batch 12 = dp 3 × 2 microbatches × B 2; replica r of step s
  // reads sequences s·12 + r·4 .. + 3.
  std::set<std::int32_t> seen;
  std::vector<std::int32_t> one_rank = starts(*source, 12, 12);
  std::vector<std::int32_t> replicas;
  for (int r = 0; r < 3; ++r) {
    for (int mb = 0; mb < 2; ++mb) {
      for (std::int32_t start : starts(*source, 12 + r * 4 + mb * 2, 2)) {
        BOOST_TEST(seen.insert(start).second);
        replicas.push_back(start);
      }
    }
  }
  BOOST_TEST(replicas == one_rank);  // together, the one-rank step's sequences in its order
}

BOOST_AUTO_TEST_CASE(contiguous_order_is_the_file_order) {
  TempDir dir("order_contiguous");
  auto source = open_numbered(dir, 11, false);
  const auto first = starts(*source, 0, 143);
  BOOST_TEST(first[0] == 0);
  BOOST_TEST(first[141] == 141 * kSeq);
  BOOST_TEST(first[142] == 10000);
}

BOOST_AUTO_TEST_CASE(feistel_is_a_bijection_on_odd_sizes) {
  for (std::uint64_t n : {1ull, 2ull, 3ull, 111ull, 989ull, 4096ull, 4097ull}) {
    const FeistelPermutation permutation(n, 0x1234 + n);
    std::vector<bool> hit(n, false);
    for (std::uint64_t i = 0; i < n; ++i) {
      const std::uint64_t j = permutation(i);
      BOOST_REQUIRE(j < n);
      BOOST_TEST(!hit[j]);
      hit[j] = true;
    }
  }
  const FeistelPermutation a(989, 1), b(989, 2);
  int same = 0;
  for (std::uint64_t i = 0; i < 989; ++i) same += a(i) == b(i) ? 1 : 0;
  BOOST_TEST(same < 20);  // another key, another permutation (about 1 fixed agreement expected)
}

BOOST_AUTO_TEST_CASE(window_order_is_pure_arithmetic_on_large_corpora) {
  // 10^10 windows (a 70-billion-token corpus at T = 7): no table, any sequence answers at once.
  const WindowOrder order(10'000'000'000, true, 3);
  const std::int64_t w = order.window_of(123'456'789'012);
  BOOST_TEST((w >= 0 && w < 10'000'000'000));
  BOOST_TEST(order.window_of(123'456'789'012) == w);
  BOOST_TEST(order.epoch_of(123'456'789'012) == 12);
}
