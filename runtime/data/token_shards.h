// Tokens in: llm.c token shards (a 256-int32 header, then uint16 token ids) read as windows of
// T + 1 tokens in a seeded shuffled order or in order, or seeded random tokens when [data] names
// no files. `llmrt data prepare` writes such shards.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace llmrt {

inline constexpr std::int32_t kShardMagic = 20240520;  // llm.c's token file magic
inline constexpr std::int32_t kShardVersion = 1;       // uint16 tokens
inline constexpr std::size_t kShardHeaderInts = 256;

// One microbatch: inputs and next-token targets, each (B, T) row-major.
struct TokenBatch {
  std::vector<std::int32_t> inputs;
  std::vector<std::int32_t> targets;
};

// How a shard source orders its windows (data/window_order.h).
struct ShardOrder {
  bool shuffle = true;     // false: contiguous windows in name order (llm.c's loader)
  std::uint64_t seed = 0;  // the permutations and offsets of a shuffled order
};

// Sequences by global index: sequence g of the run is the same T + 1 tokens whichever rank
// (data-parallel replica, pipeline stage) asks for it and whatever the microbatch size, so every
// layout trains on the same data, and "sequences consumed" is the whole data position.
class TokenSource {
 public:
  virtual ~TokenSource() = default;
  // Sequences first .. first + count − 1 as one (count, T) batch. Errors name the shard and the
  // byte offset of a bad token.
  virtual Result<TokenBatch> sequences_at(std::int64_t first, std::int64_t count) = 0;
  // Windows in one pass over the data (N); 0 for an endless source (random tokens).
  virtual std::int64_t windows() const = 0;
};

// Shards matching `pattern` (a glob; `key` names it in errors, e.g. "data.train"), in name order,
// mapped read-only and validated on open (magic, version, file size against the header's token
// count). Windows of seq + 1 tokens at stride seq across all shards, in `order`; sequence g reads
// window order(g) of epoch g / N. Token ids must be below vocab_size (checked as they are read).
Result<std::unique_ptr<TokenSource>> open_token_shards(const std::string& pattern, std::string_view key,
                                                       std::int64_t vocab_size, std::int64_t seq, ShardOrder order);

// What a run would read from `pattern`, checked before step 1 by `check` and `run` alike: every
// shard opened as open_token_shards opens it (the header's sizes held against the file's before
// anything is read), at least one window of seq + 1 tokens, and every token id below vocab_size
// in one vectorised pass (data/token_scan.h): the first that is not is an input error naming the
// file and its byte offset.
struct ShardSummary {
  std::size_t files = 0;
  std::int64_t tokens = 0;
  std::int64_t windows = 0;  // of seq + 1 tokens at stride seq, over all shards
};
Result<ShardSummary> check_token_shards(const std::string& pattern, std::string_view key, std::int64_t vocab_size,
                                        std::int64_t seq);

// Uniform random token ids, the same for a given seed on any machine.
std::unique_ptr<TokenSource> random_tokens(std::uint64_t seed, std::int64_t vocab_size, std::int64_t seq);

// Writes tokens as one llm.c shard (version 1: uint16), through a temporary file and a rename.
Status write_token_shard(const std::string& path, std::span<const std::uint16_t> tokens);

// `llmrt data prepare IN OUT`: bytes of IN as tokens (vocabulary 256), the first 90% to
// OUT_train.bin and the rest to OUT_val.bin. Returns the two paths.
Result<std::vector<std::string>> prepare_byte_shards(const std::string& input_path, const std::string& output_prefix);

}  // namespace llmrt
