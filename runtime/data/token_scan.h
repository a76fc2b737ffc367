// One pass over a shard's token ids for the first one a model cannot embed: run by `check` and
// `run` before step 1, so that a bad token is found at open, named by file and byte offset, and
// not when a batch reaches it after steps have run.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace llmrt {

// The index of the first token id ≥ `limit` among the uint16 ids in `token_bytes` (2 bytes
// each, native byte order, any alignment; a trailing odd byte is ignored), or the id count when
// every id is below it. Bound by memory bandwidth: blocks of ids reduced to their maximum
// (vectorised), a block searched id by id only when its maximum reaches `limit`.
std::size_t first_token_at_or_above(std::span<const std::byte> token_bytes, std::uint32_t limit);

}  // namespace llmrt
