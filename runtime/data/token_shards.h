// Tokens in: llm.c token shards (a 256-int32 header, then uint16 token ids) read in order, or
// seeded random tokens when [data] names no files. `llmrt data prepare` writes such shards.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
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

// Batches by global index: optimizer step s, microbatch k of M is batch s·M + k, whichever rank
// (data-parallel replica, pipeline stage) asks for it, so every layout trains on the same data.
class TokenSource {
 public:
  virtual ~TokenSource() = default;
  // Batch number `index` of shape (B, T). Errors name the shard and the offset of a bad token.
  virtual Result<TokenBatch> batch_at(std::int64_t index, std::int64_t batch, std::int64_t seq) = 0;
};

// Shards matching `pattern` (a glob), in name order, read as llm.c's loader reads them: each
// batch B·T + 1 contiguous tokens, the next one B·T further on, the next shard when a batch
// no longer fits; wraps around at the end. Token ids must be below vocab_size.
Result<std::unique_ptr<TokenSource>> open_token_shards(const std::string& pattern, std::int64_t vocab_size);

// Uniform random token ids, the same for a given seed on any machine.
std::unique_ptr<TokenSource> random_tokens(std::uint64_t seed, std::int64_t vocab_size);

// Writes tokens as one llm.c shard (version 1: uint16), through a temporary file and a rename.
Status write_token_shard(const std::string& path, std::span<const std::uint16_t> tokens);

// `llmrt data prepare IN OUT`: bytes of IN as tokens (vocabulary 256), the first 90% to
// OUT_train.bin and the rest to OUT_val.bin. Returns the two paths.
Result<std::vector<std::string>> prepare_byte_shards(const std::string& input_path, const std::string& output_prefix);

}  // namespace llmrt
