// ZeroLayout, pure: over the dp ranks the blocks and one copy of each remainder cover every
// element of the buckets once; each rank's pieces fill its shard buffers without gap; pieces_in
// cuts them to any range (an entry inside a bucket) the same way.
#define BOOST_TEST_MODULE exec_zero_layout
#include <boost/test/unit_test.hpp>

#include <numeric>
#include <vector>

#include "exec/zero_shards.h"

using llmrt::GradientBucket;
using llmrt::ShardPiece;
using llmrt::ZeroLayout;

namespace {

// Odd sizes, a bucket smaller than dp, and the tied buckets listed last though they lie first.
std::vector<GradientBucket> odd_buckets() {
  return {{0, 19, 111}, {0, 130, 1}, {1, 131, 989}, {2, 1120, 64}, {GradientBucket::kAtEnd, 0, 19}};
}

}  // namespace

BOOST_AUTO_TEST_CASE(blocks_and_one_copy_of_each_remainder_cover_every_element_once) {
  const std::vector<GradientBucket> buckets = odd_buckets();
  const std::size_t total = 1184;
  for (int dp : {1, 2, 3, 4, 7}) {
    std::vector<int> seen(total, 0);
    for (int rank = 0; rank < dp; ++rank) {
      const ZeroLayout layout(buckets, dp, rank);
      std::size_t next_shard = 0;
      for (const ShardPiece& piece : layout.pieces()) {
        BOOST_TEST(piece.shard == next_shard, "dp " << dp << " rank " << rank << ": a gap in the shard");
        next_shard += piece.count;
        if (piece.tail && rank != 0) continue;
        for (std::size_t i = piece.flat; i < piece.flat + piece.count; ++i) ++seen.at(i);
      }
      BOOST_TEST(next_shard == layout.shard_count());
      // 1/dp of the elements, and at most dp - 1 more per bucket.
      BOOST_TEST(layout.shard_count() * dp >= total);
      BOOST_TEST(layout.shard_count() <= total / dp + buckets.size() * (dp - 1));
    }
    BOOST_TEST(std::count(seen.begin(), seen.end(), 1) == static_cast<long>(total), "dp " << dp);
  }
}

BOOST_AUTO_TEST_CASE(pieces_in_cuts_the_pieces_to_a_range) {
  const std::vector<GradientBucket> buckets = odd_buckets();
  for (int dp : {2, 3}) {
    for (int rank = 0; rank < dp; ++rank) {
      const ZeroLayout layout(buckets, dp, rank);
      // An entry of 500 elements inside the 989-element bucket, and one across no piece boundary.
      for (auto [offset, count] : {std::pair<std::size_t, std::size_t>{200, 500}, {131, 989}, {1119, 3}}) {
        for (const ShardPiece& cut : layout.pieces_in(offset, count)) {
          BOOST_TEST(cut.flat >= offset);
          BOOST_TEST(cut.flat + cut.count <= offset + count);
          // The same element is at the same shard position in the uncut piece.
          bool found = false;
          for (const ShardPiece& piece : layout.pieces()) {
            if (cut.flat >= piece.flat && cut.flat + cut.count <= piece.flat + piece.count) {
              found = cut.shard == piece.shard + (cut.flat - piece.flat) && cut.tail == piece.tail;
            }
          }
          BOOST_TEST(found, "dp " << dp << " rank " << rank << ": piece at " << cut.flat);
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(a_bucket_is_found_by_its_range_only) {
  const ZeroLayout layout(odd_buckets(), 2, 1);
  BOOST_TEST(layout.find({7, 131, 989}) != nullptr);
  BOOST_TEST(layout.find({7, 131, 988}) == nullptr);
  BOOST_TEST(layout.find({7, 132, 989}) == nullptr);
}
