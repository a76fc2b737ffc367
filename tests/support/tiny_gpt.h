// The tiny GPT the executor tests train (4 blocks of d_model 32, 4 heads, seq 16, vocab 64, AdamW
// with cosine warmup, global batch 4, one CPU rank on localhost; tests set [parallel] with --set)
// and its learnable data. Header-only: every user is a Boost test.
#pragma once

#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "data/token_shards.h"
#include "support/process.h"

namespace llmrt::test {

// The config text for `steps` optimizer steps; `metrics_lines` are appended to its [metrics]
// ("tensorboard = false\n"). No [data]: random tokens unless the caller appends one.
inline std::string tiny_gpt_config(int steps, const std::string& metrics_lines = "") {
  return R"([cluster]
[[cluster.node]]
name = "localhost"
cpus = { ranks = 1 }
[model]
seq_len = 16
vocab_size = 64
[[model.layer]]
component = "gpt.embedding"
d_model = 32
[[model.layer]]
component = "gpt.block"
repeat = 4
d_model = 32
heads = 4
[[model.layer]]
component = "gpt.head"
[parallel]
pp = 1
tp = 1
dp = 1
microbatch_size = 1
[train]
steps = )" + std::to_string(steps) + R"(
global_batch = 4
grad_clip = 1.0
seed = 3
optimizer = { component = "adamw", lr = 3e-3, betas = [0.9, 0.95], weight_decay = 0.1 }
lr_schedule = { component = "cosine", warmup_steps = 2, min_lr = 1e-4 }
[metrics]
prometheus = ""
)" + metrics_lines;
}

// A random phrase of 23 tokens, repeated to 4096 tokens in dir/phrase.bin: learnable, so a few
// steps lower the loss. Every id is below 63, so a model of vocab_size 63 reads it too (zero's
// odd-sized case). Returns the shard's path.
inline std::string write_phrase_shard(const TempDir& dir) {
  const std::vector<std::uint16_t> phrase = {5, 17, 3, 44, 9, 61, 28, 12, 7, 50, 33, 2,
                                             19, 40, 11, 58, 24, 36, 1, 47, 30, 14, 62};
  std::vector<std::uint16_t> tokens(4096);
  for (std::size_t i = 0; i < tokens.size(); ++i) tokens[i] = phrase[i % phrase.size()];
  const std::string path = dir.path() + "/phrase.bin";
  BOOST_REQUIRE(llmrt::write_token_shard(path, tokens).ok());
  return path;
}

// The tiny GPT trained on the phrase shard: the config written as dir/NAME.
inline std::string write_tiny_gpt_on_phrase(const TempDir& dir, const std::string& name, int steps,
                                            const std::string& metrics_lines = "") {
  return dir.write(name, tiny_gpt_config(steps, metrics_lines) + "[data]\ntrain = \"" + write_phrase_shard(dir) + "\"\n");
}

// A mixed room whose cards lack bf16 on one node: 2 × V100-32GB (old01) and 2 × A100-80GB-SXM
// (new01) as four pipeline stages of a small GPT; `train_lines` end its [train] table (precision,
// steps) and may add tables after it.
inline std::string v100_a100_room_config(const std::string& train_lines) {
  return R"(
[cluster]
name = "mixed"
[[cluster.node]]
name = "old01"
gpus = { model = "V100-32GB", count = 2 }
[[cluster.node]]
name = "new01"
gpus = { model = "A100-80GB-SXM", count = 2 }
[model]
name = "m"
seq_len = 64
vocab_size = 256
[[model.layer]]
component = "gpt.embedding"
d_model = 64
[[model.layer]]
component = "gpt.block"
repeat = 4
d_model = 64
heads = 4
[[model.layer]]
component = "gpt.head"
[parallel]
pp = 4
tp = 1
dp = 1
[train]
global_batch = 8
)" + train_lines;
}

}  // namespace llmrt::test
