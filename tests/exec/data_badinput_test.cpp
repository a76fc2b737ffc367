// Bad data in a run: a training shard with the wrong magic, truncated, or with a token id at or
// above vocab_size, a bad or short validation shard, and validation keys without what they
// need — each one message naming the file (and byte offset) or the key, exit 2.
#define BOOST_TEST_MODULE exec_data_badinput
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>

#include "data/token_shards.h"
#include "support/process.h"

using llmrt::test::ProcessResult;
using llmrt::test::TempDir;

namespace {

const char* kConfig = R"([cluster]
[[cluster.node]]
name = "localhost"
cpus = { ranks = 1 }
[model]
seq_len = 16
vocab_size = 64
[[model.layer]]
component = "gpt.embedding"
d_model = 16
[[model.layer]]
component = "gpt.block"
d_model = 16
heads = 2
[[model.layer]]
component = "gpt.head"
[parallel]
pp = 1
tp = 1
dp = 1
[train]
steps = 3
global_batch = 4
[metrics]
prometheus = ""
)";

std::string good_shard(const TempDir& dir, const std::string& name, std::size_t tokens) {
  std::vector<std::uint16_t> values(tokens);
  for (std::size_t i = 0; i < tokens; ++i) values[i] = static_cast<std::uint16_t>(i * 7 % 64);
  const std::string path = dir.path() + "/" + name;
  BOOST_REQUIRE(llmrt::write_token_shard(path, values).ok());
  return path;
}

// Runs the tiny job with [data] `data` and returns what it did; expects exit 2 and `expected`
// (each part) on stderr.
void expect_refused(const TempDir& dir, const std::string& data, const std::vector<std::string>& expected) {
  const std::string config = dir.write("job.toml", std::string(kConfig) + "[data]\n" + data);
  const ProcessResult result =
      llmrt::test::run_llmrt({"run", config, "--set", "metrics.run_dir=" + dir.path() + "/run"});
  BOOST_TEST_INFO("stdout: " << result.out << "\nstderr: " << result.err);
  BOOST_TEST(result.exit_code == 2);
  for (const std::string& part : expected) {
    BOOST_TEST_INFO("expected on stderr: " << part);
    BOOST_TEST(result.err.find(part) != std::string::npos);
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(training_shard_with_the_wrong_magic) {
  TempDir dir("data_bad_magic");
  const std::string path = good_shard(dir, "x.bin", 500);
  std::fstream(path, std::ios::in | std::ios::out | std::ios::binary).write("\x01\x02\x03\x04", 4);
  expect_refused(dir, "train = \"" + path + "\"\n", {path + ": offset 0: not an llm.c token shard"});
}

BOOST_AUTO_TEST_CASE(truncated_training_shard) {
  TempDir dir("data_truncated");
  const std::string path = good_shard(dir, "x.bin", 500);
  std::filesystem::resize_file(path, 1024 + 2 * 300);
  expect_refused(dir, "train = \"" + path + "\"\n",
                 {path + ": truncated token shard: the header promises 500 tokens (2024 bytes), the file has 1624"});
}

BOOST_AUTO_TEST_CASE(token_id_at_or_above_vocab_size_names_file_and_offset) {
  TempDir dir("data_bad_token");
  std::vector<std::uint16_t> values(500, 3);
  values[20] = 64;  // read by sequence 1 (tokens 16 .. 32) of the contiguous order
  const std::string path = dir.path() + "/x.bin";
  BOOST_REQUIRE(llmrt::write_token_shard(path, values).ok());
  expect_refused(dir, "train = \"" + path + "\"\nshuffle = false\n",
                 {path + ": token 64 at byte offset 1064 is not below vocab_size = 64"});
}

BOOST_AUTO_TEST_CASE(bad_validation_shards) {
  TempDir dir("data_bad_val");
  const std::string train = good_shard(dir, "train.bin", 500);
  std::vector<std::uint16_t> values(200, 3);
  values[33] = 900;
  const std::string val = dir.path() + "/val.bin";
  BOOST_REQUIRE(llmrt::write_token_shard(val, values).ok());
  expect_refused(dir, "train = \"" + train + "\"\nval = \"" + val + "\"\n",
                 {val + ": token 900 at byte offset 1090 is not below vocab_size = 64"});
  const std::string short_val = good_shard(dir, "short.bin", 60);  // 3 windows of 17: fewer than 4
  expect_refused(dir, "train = \"" + train + "\"\nval = \"" + short_val + "\"\n",
                 {"data.val = \"" + short_val + "\": 3 windows of seq_len + 1 = 17 tokens, fewer than one "
                  "train.global_batch = 4"});
  expect_refused(dir, "train = \"" + train + "\"\nval = \"" + dir.path() + "/none_*.bin\"\n",
                 {"data.val = \"" + dir.path() + "/none_*.bin\": no file matches"});
}

BOOST_AUTO_TEST_CASE(validation_keys_without_what_they_need) {
  TempDir dir("data_val_keys");
  const std::string train = good_shard(dir, "train.bin", 500);
  expect_refused(dir, "train = \"" + train + "\"\nval_every = 10\n", {"data.val_every", "needs data.val"});
  expect_refused(dir, "val = \"" + train + "\"\n", {"data.val", "needs data.train"});
  expect_refused(dir, "train = \"" + train + "\"\nval = \"" + train + "\"\nval_sequences = 6\n",
                 {"data.val_sequences", "positive multiple of train.global_batch = 4", "found 6"});
}
