// llm.c token shards: written and read back batch by batch, and every kind of bad shard
// refused with the file and the offset.
#define BOOST_TEST_MODULE data_token_shards
#include <boost/test/unit_test.hpp>

#include <fstream>

#include "data/token_shards.h"
#include "support/process.h"

using namespace llmrt;
using llmrt::test::TempDir;

namespace {

std::string message_of(const Result<std::unique_ptr<TokenSource>>& source) {
  return source.ok() ? std::string() : source.error().message();
}

// Writes raw bytes: a header of `header_ints` int32 values, then `tokens`.
std::string write_raw(const TempDir& dir, const std::string& name, std::vector<std::int32_t> header,
                      const std::vector<std::uint16_t>& tokens) {
  const std::string path = dir.path() + "/" + name;
  std::ofstream file(path, std::ios::binary);
  file.write(reinterpret_cast<const char*>(header.data()), static_cast<std::streamsize>(header.size() * 4));
  file.write(reinterpret_cast<const char*>(tokens.data()), static_cast<std::streamsize>(tokens.size() * 2));
  return path;
}

std::vector<std::int32_t> header(std::int32_t magic, std::int32_t version, std::int32_t count) {
  std::vector<std::int32_t> ints(256, 0);
  ints[0] = magic;
  ints[1] = version;
  ints[2] = count;
  return ints;
}

}  // namespace

constexpr ShardOrder kContiguous{false, 0};

BOOST_AUTO_TEST_CASE(contiguous_sequences_are_windows_at_stride_seq_with_shifted_targets) {
  TempDir dir("shards_read");
  std::vector<std::uint16_t> tokens(40);
  for (std::size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<std::uint16_t>(i * 7 % 53);
  BOOST_REQUIRE(write_token_shard(dir.path() + "/a_train.bin", tokens).ok());
  auto source = open_token_shards(dir.path() + "/*_train.bin", "data.train", 53, 5, kContiguous);
  BOOST_REQUIRE_MESSAGE(source.ok(), message_of(source));
  BOOST_TEST((*source)->windows() == 7);  // (40 - 1) / 5
  auto first = (*source)->sequences_at(0, 2);
  auto second = (*source)->sequences_at(2, 2);
  auto wrapped = (*source)->sequences_at(7, 2);  // 7 windows: sequence 7 is sequence 0 again
  BOOST_REQUIRE(first.ok());
  BOOST_REQUIRE(second.ok());
  for (int i = 0; i < 10; ++i) {
    BOOST_TEST(first->inputs[static_cast<std::size_t>(i)] == tokens[static_cast<std::size_t>(i)]);
    BOOST_TEST(first->targets[static_cast<std::size_t>(i)] == tokens[static_cast<std::size_t>(i + 1)]);
    BOOST_TEST(second->inputs[static_cast<std::size_t>(i)] == tokens[static_cast<std::size_t>(i + 10)]);
  }
  BOOST_TEST(wrapped->inputs == first->inputs);
}

BOOST_AUTO_TEST_CASE(windows_continue_into_the_next_shard) {
  TempDir dir("shards_two");
  std::vector<std::uint16_t> a(25), b(25);
  for (std::size_t i = 0; i < 25; ++i) a[i] = static_cast<std::uint16_t>(i), b[i] = static_cast<std::uint16_t>(100 + i);
  BOOST_REQUIRE(write_token_shard(dir.path() + "/s_0.bin", a).ok());
  BOOST_REQUIRE(write_token_shard(dir.path() + "/s_1.bin", b).ok());
  auto source = open_token_shards(dir.path() + "/s_*.bin", "data.train", 200, 5, kContiguous);
  BOOST_REQUIRE(source.ok());
  // (25 - 1) / 5 = 4 windows per shard: sequence 4 is the second shard's first.
  auto fifth = (*source)->sequences_at(4, 2);
  BOOST_REQUIRE(fifth.ok());
  BOOST_TEST(fifth->inputs[0] == 100);
  BOOST_TEST(fifth->targets[9] == 110);
}

BOOST_AUTO_TEST_CASE(prepare_writes_byte_tokens_split_ninety_ten) {
  TempDir dir("shards_prepare");
  std::string text;
  for (int i = 0; i < 100; ++i) text += static_cast<char>('a' + i % 26);
  const std::string input = dir.write("in.txt", text);
  auto written = prepare_byte_shards(input, dir.path() + "/out/text");
  BOOST_REQUIRE(written.ok());
  auto train = open_token_shards((*written)[0], "data.train", 256, 89, kContiguous);
  BOOST_REQUIRE(train.ok());
  auto batch = (*train)->sequences_at(0, 1);  // 90 train tokens: 89 inputs + 1 target
  BOOST_REQUIRE(batch.ok());
  BOOST_TEST(batch->inputs[3] == 'd');
  BOOST_TEST(batch->targets[88] == text[89]);
  auto val = open_token_shards((*written)[1], "data.val", 256, 10, kContiguous);  // only 10 tokens: no window of 11
  BOOST_TEST(message_of(val).find("data.val = \"" + (*written)[1] + "\": 10 tokens in 1 shard(s), no shard holds one "
                                  "window of seq_len + 1 = 11 tokens") != std::string::npos);
  BOOST_TEST(val.error().exit_code() == 2);
}

BOOST_AUTO_TEST_CASE(random_tokens_repeat_for_a_seed_and_stay_below_vocab) {
  auto a = random_tokens(5, 17, 11), b = random_tokens(5, 17, 11), c = random_tokens(6, 17, 11);
  auto ba = a->sequences_at(4, 3), bb = b->sequences_at(4, 3), bc = c->sequences_at(4, 3);
  BOOST_TEST(ba->inputs.size() == 33u);
  BOOST_TEST(ba->inputs == bb->inputs);
  BOOST_TEST(ba->inputs != bc->inputs);
  BOOST_TEST(ba->inputs != a->sequences_at(5, 3)->inputs);
  // By sequence: sequence 5 is the same whether read in a batch from 4 or on its own.
  auto alone = a->sequences_at(5, 1);
  BOOST_TEST(std::vector<std::int32_t>(ba->inputs.begin() + 11, ba->inputs.begin() + 22) == alone->inputs);
  for (std::int32_t t : ba->inputs) BOOST_TEST((t >= 0 && t < 17));
}

BOOST_AUTO_TEST_CASE(no_matching_file) {
  auto source = open_token_shards("/nonexistent/none_*.bin", "data.train", 256, 4, kContiguous);
  BOOST_TEST(message_of(source).find("data.train = \"/nonexistent/none_*.bin\": no file matches") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(truncated_header) {
  TempDir dir("shards_bad_header");
  const std::string path = write_raw(dir, "x.bin", {20240520, 1}, {});
  auto source = open_token_shards(path, "data.train", 256, 2, kContiguous);
  BOOST_TEST(message_of(source).find(path + ": truncated token shard: 8 bytes, expected a 1024-byte header") !=
             std::string::npos);
  BOOST_TEST(source.error().exit_code() == 2);
}

BOOST_AUTO_TEST_CASE(wrong_magic) {
  TempDir dir("shards_bad_magic");
  const std::string path = write_raw(dir, "x.bin", header(12345, 1, 4), {1, 2, 3, 4});
  BOOST_TEST(message_of(open_token_shards(path, "data.train", 256, 2, kContiguous)).find(path + ": offset 0: not an llm.c token shard") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(unsupported_version) {
  TempDir dir("shards_bad_version");
  const std::string path = write_raw(dir, "x.bin", header(20240520, 2, 4), {1, 2, 3, 4});
  BOOST_TEST(message_of(open_token_shards(path, "data.train", 256, 2, kContiguous)).find(path + ": offset 4: token shard version 2") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(empty_file) {
  TempDir dir("shards_empty");
  const std::string path = write_raw(dir, "x.bin", {}, {});
  auto source = open_token_shards(path, "data.train", 256, 2, kContiguous);
  BOOST_TEST(message_of(source).find(path + ": truncated token shard: 0 bytes") != std::string::npos);
  BOOST_TEST(source.error().exit_code() == 2);
}

BOOST_AUTO_TEST_CASE(longer_than_its_header) {
  TempDir dir("shards_long");
  const std::string path = write_raw(dir, "x.bin", header(20240520, 1, 3), {1, 2, 3, 4});
  BOOST_TEST(message_of(open_token_shards(path, "data.train", 256, 2, kContiguous))
                 .find(path + ": token shard longer than its header says: the header promises 3 tokens (1030 bytes), "
                              "the file has 1032") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(truncated_tokens) {
  TempDir dir("shards_bad_count");
  const std::string path = write_raw(dir, "x.bin", header(20240520, 1, 10), {1, 2, 3});
  BOOST_TEST(message_of(open_token_shards(path, "data.train", 256, 2, kContiguous)).find("the header promises 10 tokens (1044 bytes), the file has 1030") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(token_id_at_or_above_vocab_names_file_and_offset) {
  TempDir dir("shards_bad_token");
  const std::string path = write_raw(dir, "x.bin", header(20240520, 1, 8), {1, 2, 3, 50, 4, 5, 6, 7});
  auto source = open_token_shards(path, "data.train", 50, 6, kContiguous);
  BOOST_REQUIRE(source.ok());
  auto batch = (*source)->sequences_at(0, 1);
  BOOST_REQUIRE(!batch.ok());
  // Token index 3 sits after the 1024-byte header at byte 1024 + 3 * 2.
  BOOST_TEST(batch.error().message().find(path + ": token 50 at byte offset 1030 is not below vocab_size = 50") !=
             std::string::npos);
}
