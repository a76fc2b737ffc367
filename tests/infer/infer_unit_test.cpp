// Pure parts of inference: token choice (greedy, top-k, temperature, seeds), byte text, the
// assembly of tensor-parallel slices into global tensors (against ParamStore's slicing).
#define BOOST_TEST_MODULE infer_unit
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>

#include "ckpt/tensor_shards.h"
#include "exec/param_store.h"
#include "infer/sampler.h"
#include "infer/training_samples.h"

using namespace llmrt;

namespace {
std::vector<float> random_logits(std::size_t count, unsigned seed) {
  std::mt19937 generator(seed);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  std::vector<float> logits(count);
  for (float& value : logits) value = normal(generator);
  return logits;
}
}  // namespace

BOOST_AUTO_TEST_CASE(greedy_takes_the_argmax_and_the_lowest_id_on_a_tie) {
  std::mt19937_64 rng(1);
  std::vector<float> logits = random_logits(301, 3);
  const auto best = std::max_element(logits.begin(), logits.end()) - logits.begin();
  BOOST_TEST(pick_token(logits, 0.0, 40, rng) == best);
  BOOST_TEST(pick_token(logits, 0.7, 1, rng) == best);  // top-k 1 is greedy at any temperature
  logits.assign(9, 1.0f);
  logits[7] = logits[4] = 5.0f;
  BOOST_TEST(pick_token(logits, 0.0, 0, rng) == 4);
}

BOOST_AUTO_TEST_CASE(draws_stay_in_the_top_k_and_follow_the_softmax) {
  const std::vector<float> logits = random_logits(97, 5);
  std::vector<std::int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int a, int b) { return logits[a] > logits[b]; });
  std::mt19937_64 rng(9);
  std::map<std::int32_t, int> counts;
  const int draws = 20000;
  for (int i = 0; i < draws; ++i) ++counts[pick_token(logits, 1.0, 3, rng)];
  BOOST_TEST(counts.size() == 3u);
  for (const auto& [token, count] : counts) BOOST_TEST((token == order[0] || token == order[1] || token == order[2]));
  // softmax over the top three at temperature 1
  double total = 0;
  for (int i = 0; i < 3; ++i) total += std::exp(logits[order[i]] - logits[order[0]]);
  const double expected = 1.0 / total;
  BOOST_TEST(std::abs(counts[order[0]] / double(draws) - expected) < 0.02);
}

BOOST_AUTO_TEST_CASE(one_seed_gives_one_sequence) {
  const std::vector<float> logits = random_logits(257, 8);
  auto draw = [&](std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<std::int32_t> tokens;
    for (int i = 0; i < 50; ++i) tokens.push_back(pick_token(logits, 1.3, 0, rng));
    return tokens;
  };
  BOOST_TEST(draw(4) == draw(4));
  BOOST_TEST(draw(4) != draw(5));
}

BOOST_AUTO_TEST_CASE(bytes_round_trip_and_wide_ids_become_the_replacement_character) {
  const std::string text = "h\xc3\xa9llo\n\x01";
  const std::vector<std::int32_t> tokens = byte_tokens(text);
  BOOST_TEST(tokens.size() == text.size());
  BOOST_TEST(tokens[1] == 0xc3);
  BOOST_TEST(token_text(tokens) == text);
  const std::vector<std::int32_t> wide = {104, 300, 105};
  BOOST_TEST(token_text(wide) == "h\xEF\xBF\xBDi");
  BOOST_TEST(escaped_line("a\nb\t\\\x7f") == "a\\nb\\t\\\\\\x7f");
}

BOOST_AUTO_TEST_CASE(bad_sample_options_name_the_option) {
  BOOST_TEST(sample_options_problem(SampleOptions{}).empty());
  BOOST_TEST(sample_options_problem(SampleOptions{0, 0.8, 40, 1}).find("--tokens") == 0u);
  BOOST_TEST(sample_options_problem(SampleOptions{5, -0.1, 40, 1}).find("--temperature") == 0u);
  BOOST_TEST(sample_options_problem(SampleOptions{5, std::nan(""), 40, 1}).find("--temperature") == 0u);
  BOOST_TEST(sample_options_problem(SampleOptions{5, 0.8, -1, 1}).find("--top-k") == 0u);
}

// Slices cut by ParamStore's slice_along come back whole, for every dimension of odd shapes.
BOOST_AUTO_TEST_CASE(assembled_slices_are_the_global_tensor) {
  const std::vector<std::vector<std::int64_t>> shapes = {{3, 6, 5}, {6}, {4, 9}, {2, 3, 3, 4}};
  for (const auto& shape : shapes) {
    std::size_t count = 1;
    for (auto extent : shape) count *= static_cast<std::size_t>(extent);
    const std::vector<float> global = random_logits(count, static_cast<unsigned>(count));
    for (int dim = 0; dim < static_cast<int>(shape.size()); ++dim) {
      for (int tp : {1, 2, 3}) {
        if (shape[static_cast<std::size_t>(dim)] % tp != 0) continue;
        std::vector<std::vector<float>> slices;
        for (int r = 0; r < tp; ++r) slices.push_back(slice_along(global, shape, dim, r, tp));
        BOOST_TEST(assemble_along(slices, shape, dim) == global, "shape " << shape_text(shape) << " dim " << dim << " tp " << tp);
      }
    }
    BOOST_TEST(assemble_along({global}, shape, LLMRT_NO_SHARD) == global);
  }
}
