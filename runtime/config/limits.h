// The largest counts a config may ask for (docs/config.md, "Limits"). Each is far beyond any
// machine or model llmrt trains on, and low enough that every product of them the runtime forms
// (devices × layers, batch × sequence, ...) stays exact in 64 bits and every loop over them ends
// in seconds: a typo such as `count = 100000000` is an error naming the key, not an hour of
// `check` or an allocation the size of the disk.
#pragma once

#include <cstdint>

namespace llmrt {

inline constexpr std::int64_t kMaxNodes = 16384;                // [[cluster.node]] entries
inline constexpr std::int64_t kMaxDevicesPerNode = 1024;        // GPUs or CPU ranks on one node
inline constexpr std::int64_t kMaxDevices = 1048576;            // devices (ranks) in the whole cluster
inline constexpr std::int64_t kMaxThreadsPerRank = 1024;        // cpus.threads_per_rank
inline constexpr std::int64_t kMaxLayers = 4096;                // model layers, repeats counted
inline constexpr std::int64_t kMaxSeqLen = 1048576;             // model.seq_len (tokens)
inline constexpr std::int64_t kMaxVocabSize = 16777216;         // model.vocab_size (2^24 token ids)
inline constexpr std::int64_t kMaxVocabPadMultiple = 65536;     // model.vocab_pad_multiple (rows of wte)
inline constexpr std::int64_t kMaxGlobalBatch = 1048576;        // train.global_batch (sequences per step)
inline constexpr std::int64_t kMaxSteps = 1000000000000;        // train.steps, sweep.measure_steps (10^12)

}  // namespace llmrt
