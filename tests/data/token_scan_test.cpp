// The scan for out-of-vocabulary token ids that `check` and `run` make before step 1: the
// vectorised pass against a plain reference on odd sizes and alignments, and check_token_shards
// naming the file and byte offset of the first bad id, refusing a lying header without paying
// for the size it claims.
#define BOOST_TEST_MODULE data_token_scan
#include <boost/test/unit_test.hpp>

#include <cstring>
#include <fstream>
#include <random>

#include "data/token_scan.h"
#include "data/token_shards.h"
#include "support/process.h"
#include "util/memory.h"

using namespace llmrt;
using llmrt::test::TempDir;

namespace {

// `ids` as bytes, starting `misalign` bytes into the buffer (the scan takes any alignment).
std::vector<std::byte> as_bytes(const std::vector<std::uint16_t>& ids, std::size_t misalign) {
  std::vector<std::byte> bytes(misalign + ids.size() * 2, std::byte{0x5A});
  if (!ids.empty()) std::memcpy(bytes.data() + misalign, ids.data(), ids.size() * 2);
  return bytes;
}

std::size_t scan(const std::vector<std::uint16_t>& ids, std::uint32_t limit, std::size_t misalign = 0) {
  const std::vector<std::byte> bytes = as_bytes(ids, misalign);
  return first_token_at_or_above(std::span<const std::byte>(bytes).subspan(misalign), limit);
}

// The reference twin: id by id.
std::size_t reference_scan(const std::vector<std::uint16_t>& ids, std::uint32_t limit) {
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] >= limit) return i;
  }
  return ids.size();
}

std::vector<std::uint16_t> random_ids(std::size_t count, std::uint16_t below, std::uint64_t seed) {
  std::mt19937_64 generator(seed);
  std::uniform_int_distribution<int> id(0, below - 1);
  std::vector<std::uint16_t> ids(count);
  for (auto& value : ids) value = static_cast<std::uint16_t>(id(generator));
  return ids;
}

std::string write_shard(const TempDir& dir, const std::string& name, const std::vector<std::uint16_t>& ids) {
  const std::string path = dir.path() + "/" + name;
  BOOST_REQUIRE(write_token_shard(path, ids).ok());
  return path;
}

}  // namespace

BOOST_AUTO_TEST_CASE(every_planted_bad_id_is_found_at_its_index_on_odd_sizes_and_alignments) {
  for (std::size_t count : {std::size_t{1}, std::size_t{19}, std::size_t{111}, std::size_t{989}, std::size_t{4095},
                            std::size_t{4096}, std::size_t{4097}, std::size_t{10007}}) {
    for (std::size_t misalign : {0, 1, 3}) {
      std::vector<std::uint16_t> ids = random_ids(count, 50257, count + misalign);
      BOOST_TEST(scan(ids, 50257, misalign) == count);  // all below: the count
      for (std::size_t at : {std::size_t{0}, count / 2, count - 1}) {
        std::vector<std::uint16_t> bad = ids;
        bad[at] = 50257;
        BOOST_TEST(scan(bad, 50257, misalign) == at, "count " << count << " misalign " << misalign << " at " << at);
        bad[at] = 65535;
        BOOST_TEST(scan(bad, 50257, misalign) == at);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(the_first_of_several_bad_ids_is_named_and_agrees_with_the_reference) {
  std::mt19937_64 generator(7);
  for (int trial = 0; trial < 200; ++trial) {
    const std::size_t count = 1 + generator() % 20000;
    const auto limit = static_cast<std::uint32_t>(1 + generator() % 65535);
    // Ids drawn a little past the limit now and then: zero, one or many bad ones.
    std::vector<std::uint16_t> ids = random_ids(count, static_cast<std::uint16_t>(limit), generator());
    const std::size_t planted = generator() % 4;
    for (std::size_t k = 0; k < planted && limit < 65535; ++k) {
      ids[generator() % count] = static_cast<std::uint16_t>(limit + generator() % (65536 - limit));
    }
    BOOST_TEST(scan(ids, limit, trial % 2) == reference_scan(ids, limit), "trial " << trial);
  }
}

BOOST_AUTO_TEST_CASE(limits_at_the_edges_of_uint16) {
  const std::vector<std::uint16_t> ids = {0, 65535, 7};
  BOOST_TEST(scan(ids, 65536) == 3u);   // a vocabulary of 2^16 or more: nothing is out of it
  BOOST_TEST(scan(ids, 70000) == 3u);
  BOOST_TEST(scan(ids, 65535) == 1u);
  BOOST_TEST(scan(ids, 0) == 0u);       // nothing is below 0
  BOOST_TEST(scan({}, 10) == 0u);
}

BOOST_AUTO_TEST_CASE(check_names_the_shard_and_byte_offset_of_the_first_bad_token) {
  TempDir dir("scan_check");
  std::vector<std::uint16_t> good = random_ids(5000, 300, 1), bad = random_ids(7000, 300, 2);
  bad[4321] = 300;
  bad[6000] = 999;
  write_shard(dir, "s_0.bin", good);
  const std::string second = write_shard(dir, "s_1.bin", bad);
  auto checked = check_token_shards(dir.path() + "/s_*.bin", "data.train", 300, 64);
  BOOST_REQUIRE(!checked.ok());
  BOOST_TEST(checked.error().exit_code() == 2);
  // Token 4321 sits after the 1024-byte header at byte 1024 + 2 × 4321.
  BOOST_TEST(checked.error().message() == second + ": token 300 at byte offset 9666 is not below vocab_size = 300");
  // The same shards with a vocabulary that holds them: a summary of what a run reads.
  auto fine = check_token_shards(dir.path() + "/s_*.bin", "data.train", 1000, 64);
  BOOST_REQUIRE(fine.ok());
  BOOST_TEST(fine->files == 2u);
  BOOST_TEST(fine->tokens == 12000);
  BOOST_TEST(fine->windows == (5000 - 1) / 64 + (7000 - 1) / 64);
}

BOOST_AUTO_TEST_CASE(check_refuses_what_open_refuses_and_shards_without_a_window) {
  TempDir dir("scan_refusals");
  auto none = check_token_shards(dir.path() + "/none_*.bin", "data.val", 256, 8);
  BOOST_REQUIRE(!none.ok());
  BOOST_TEST(none.error().message() == "data.val = \"" + dir.path() + "/none_*.bin\": no file matches");
  const std::string short_shard = write_shard(dir, "short.bin", random_ids(8, 256, 3));
  auto short_check = check_token_shards(short_shard, "data.train", 256, 8);
  BOOST_REQUIRE(!short_check.ok());
  BOOST_TEST(short_check.error().message().find("8 tokens in 1 shard(s), no shard holds one window of seq_len + 1 = 9 "
                                                "tokens") != std::string::npos);
  const std::string text = dir.write("text.bin", std::string(2048, 'x'));
  auto text_check = check_token_shards(text, "data.train", 256, 8);
  BOOST_REQUIRE(!text_check.ok());
  BOOST_TEST(text_check.error().message().find(text + ": offset 0: not an llm.c token shard") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_header_claiming_two_billion_tokens_is_refused_before_it_costs_memory) {
  TempDir dir("scan_lying_header");
  std::vector<std::int32_t> header(256, 0);
  header[0] = kShardMagic;
  header[1] = kShardVersion;
  header[2] = 2147483647;  // 4 GiB of uint16 ids promised, 64 bytes present
  const std::string path = dir.path() + "/liar.bin";
  {
    std::ofstream file(path, std::ios::binary);
    file.write(reinterpret_cast<const char*>(header.data()), 1024);
    file.write(std::string(64, '\0').data(), 64);
  }
  const std::int64_t before = peak_resident_bytes();
  auto checked = check_token_shards(path, "data.train", 256, 8);
  BOOST_REQUIRE(!checked.ok());
  BOOST_TEST(checked.error().message() == path + ": truncated token shard: the header promises 2147483647 tokens "
                                                 "(4294968318 bytes), the file has 1088");
  BOOST_TEST(peak_resident_bytes() - before < (std::int64_t{64} << 20));  // no allocation of the promised size
}
