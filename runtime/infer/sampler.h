// Text generation from an InferenceModel: byte tokens in and out (the data path tokenises text
// as bytes today), temperature and top-k sampling from a seeded generator, so that one seed
// gives one text on every machine.
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "infer/inference_model.h"
#include "util/status.h"

namespace llmrt {

struct SampleOptions {
  std::int64_t tokens = 200;     // new tokens to generate
  double temperature = 0.8;      // 0 = greedy (argmax)
  std::int64_t top_k = 40;       // sample among the k most likely; 0 = the whole vocabulary
  std::uint64_t seed = 1337;
};

// "" when the options make sense, else what is wrong, naming the option ("--temperature ...").
std::string sample_options_problem(const SampleOptions& options);

// The bytes of `text` as token ids 0..255.
std::vector<std::int32_t> byte_tokens(std::string_view text);
// Token ids back to text: ids below 256 are bytes; any other id (a vocabulary wider than bytes
// has ids no byte maps to) becomes U+FFFD, the replacement character.
std::string token_text(std::span<const std::int32_t> tokens);

// The next token from one position's logits (V): argmax at temperature 0 (the lowest id on a
// tie), else a draw from softmax(logits / temperature) restricted to the top_k largest.
std::int32_t pick_token(std::span<const float> logits, double temperature, std::int64_t top_k, std::mt19937_64& rng);

// Generates options.tokens tokens after `prompt` (not empty; its tail beyond seq_len is cropped
// each step), calling on_token (if set) with each as it comes. Returns the new tokens.
Result<std::vector<std::int32_t>> generate(InferenceModel& model, std::span<const std::int32_t> prompt,
                                           const SampleOptions& options,
                                           const std::function<void(std::int32_t)>& on_token = {});

}  // namespace llmrt
