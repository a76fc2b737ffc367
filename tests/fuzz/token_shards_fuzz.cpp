// The token-shard reader on hostile files. The input's first 8 bytes choose how the shards are
// read: vocab_size (bytes 0-1, + 1), seq_len (byte 2 % 64 + 1), shuffled (byte 3 bit 0), one or
// two shards (byte 3 bit 1: the rest split in half), seed (bytes 4-7); the rest is the shard
// file(s). Every window the source has (up to 64) is read, as training would.
#include <cstring>

#include "data/token_shards.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace llmrt;
  if (size < 8) return 0;
  const std::int64_t vocab_size = (data[0] | (data[1] << 8)) + 1;
  const std::int64_t seq = data[2] % 64 + 1;
  const bool shuffle = (data[3] & 1) != 0, two_shards = (data[3] & 2) != 0;
  std::uint32_t seed = 0;
  std::memcpy(&seed, data + 4, sizeof seed);
  const std::string_view files = fuzz::as_text(data + 8, size - 8);
  const std::size_t first_size = two_shards ? files.size() / 2 : files.size();
  fuzz::write_file("shard_0.bin", files.substr(0, first_size));
  std::error_code ignored;
  std::filesystem::remove(fuzz::scratch_dir() / "shard_1.bin", ignored);
  if (two_shards) fuzz::write_file("shard_1.bin", files.substr(first_size));

  const std::string pattern = (fuzz::scratch_dir() / "shard_*.bin").string();
  auto source = open_token_shards(pattern, "data.train", vocab_size, seq, ShardOrder{shuffle, seed});
  fuzz::expect_ok_or_input_error(source, "open_token_shards");
  if (!source.ok()) return 0;
  const std::int64_t windows = (*source)->windows();
  if (windows <= 0) {
    std::fprintf(stderr, "open_token_shards accepted shards with %ld windows\n", static_cast<long>(windows));
    std::abort();
  }
  // Two epochs' worth (a shuffled order moves the offsets between epochs), at most 64 sequences.
  const std::int64_t sequences = std::min<std::int64_t>(2 * windows, 64);
  for (std::int64_t g = 0; g < sequences; g += 4) {
    const std::int64_t count = std::min<std::int64_t>(4, sequences - g);
    auto batch = (*source)->sequences_at(g, count);
    fuzz::expect_ok_or_input_error(batch, "sequences_at");
    if (batch.ok() && batch->inputs.size() != static_cast<std::size_t>(count * seq)) std::abort();
  }
  return 0;
}
