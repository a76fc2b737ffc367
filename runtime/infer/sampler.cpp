#include "infer/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

namespace llmrt {
namespace {

// A uniform double in [0, 1) from the top 53 bits: the same on every standard library
// (std::uniform_real_distribution is not).
double uniform(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

}  // namespace

std::string sample_options_problem(const SampleOptions& options) {
  if (options.tokens <= 0) return fmt::format("--tokens = {}: expected at least 1", options.tokens);
  if (!(options.temperature >= 0) || !std::isfinite(options.temperature)) {
    return fmt::format("--temperature = {}: expected a number >= 0 (0 = greedy)", options.temperature);
  }
  if (options.top_k < 0) return fmt::format("--top-k = {}: expected >= 0 (0 = off)", options.top_k);
  return "";
}

std::vector<std::int32_t> byte_tokens(std::string_view text) {
  std::vector<std::int32_t> tokens;
  tokens.reserve(text.size());
  for (char c : text) tokens.push_back(static_cast<unsigned char>(c));
  return tokens;
}

std::string token_text(std::span<const std::int32_t> tokens) {
  std::string text;
  for (std::int32_t token : tokens) {
    if (token >= 0 && token < 256) text.push_back(static_cast<char>(token));
    else text += "\xEF\xBF\xBD";  // U+FFFD
  }
  return text;
}

std::int32_t pick_token(std::span<const float> logits, double temperature, std::int64_t top_k, std::mt19937_64& rng) {
  std::vector<std::int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  // Largest first, lower id first on a tie: the order is total, so the draw is reproducible.
  const auto before = [&](std::int32_t a, std::int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
  if (temperature == 0) return *std::min_element(order.begin(), order.end(), before);
  const std::size_t k = top_k > 0 ? std::min<std::size_t>(static_cast<std::size_t>(top_k), order.size()) : order.size();
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(), before);
  std::vector<double> weights(k);
  const double top = logits[order[0]];
  double total = 0;
  for (std::size_t i = 0; i < k; ++i) total += weights[i] = std::exp((logits[order[i]] - top) / temperature);
  double draw = uniform(rng) * total;
  for (std::size_t i = 0; i < k; ++i) {
    if ((draw -= weights[i]) < 0) return order[i];
  }
  return order[k - 1];  // rounding left a sliver past the last weight
}

Result<std::vector<std::int32_t>> generate(InferenceModel& model, std::span<const std::int32_t> prompt,
                                           const SampleOptions& options,
                                           const std::function<void(std::int32_t)>& on_token) {
  if (std::string problem = sample_options_problem(options); !problem.empty()) return input_error("{}", problem);
  std::vector<std::int32_t> context(prompt.begin(), prompt.end());
  std::vector<std::int32_t> generated;
  std::mt19937_64 rng(options.seed);
  for (std::int64_t i = 0; i < options.tokens; ++i) {
    LLMRT_ASSIGN_OR_RETURN(std::vector<float> logits, model.logits(context));
    const std::int32_t token = pick_token(logits, options.temperature, options.top_k, rng);
    context.push_back(token);
    generated.push_back(token);
    if (on_token) on_token(token);
  }
  return generated;
}

}  // namespace llmrt
