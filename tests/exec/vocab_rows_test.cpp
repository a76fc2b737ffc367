// exec/vocab_rows.h: which tensors can stand for a padded vocabulary parameter, re-padding them
// (zero rows dropped or appended, a non-zero row refused), and zeroing the padded rows.
#define BOOST_TEST_MODULE exec_vocab_rows
#include <boost/test/unit_test.hpp>

#include "exec/param_store.h"
#include "exec/vocab_rows.h"

namespace {

// wte of a model with vocab_size 5 padded to 8 rows of 3 channels.
llmrt::ParamEntry padded_wte() {
  llmrt::ParamEntry entry;
  entry.name = "wte";
  entry.global_shape = entry.local_shape = {8, 3};
  entry.count = 24;
  entry.vocab_rows = 5;
  return entry;
}

// rows × 3 values, row r holding r + 1 (so no real row is zero), padding rows past `real` zero.
llmrt::GlobalTensor rows_of(std::int64_t rows, std::int64_t real) {
  llmrt::GlobalTensor tensor{{rows, 3}, std::vector<float>(std::size_t(rows) * 3, 0.0f)};
  for (std::int64_t r = 0; r < real; ++r) {
    for (int c = 0; c < 3; ++c) tensor.values[std::size_t(r * 3 + c)] = float(r + 1) + 0.25f * float(c);
  }
  return tensor;
}

}  // namespace

BOOST_AUTO_TEST_CASE(repaddable_needs_the_flag_the_other_dims_and_the_real_rows) {
  llmrt::ParamEntry entry = padded_wte();
  BOOST_TEST(llmrt::repaddable({5, 3}, entry));    // the unpadded rows
  BOOST_TEST(llmrt::repaddable({64, 3}, entry));   // another multiple
  BOOST_TEST(!llmrt::repaddable({4, 3}, entry));   // fewer rows than the vocabulary
  BOOST_TEST(!llmrt::repaddable({8, 4}, entry));   // another width
  BOOST_TEST(!llmrt::repaddable({8}, entry));      // another rank
  entry.vocab_rows = 0;                            // not flagged: only the exact shape loads
  BOOST_TEST(!llmrt::repaddable({5, 3}, entry));
}

BOOST_AUTO_TEST_CASE(fewer_rows_get_zeros_and_more_lose_their_zero_rows) {
  const llmrt::ParamEntry entry = padded_wte();
  llmrt::GlobalTensor grown = rows_of(5, 5);
  BOOST_REQUIRE(llmrt::fit_vocab_rows(grown, entry, "file", "tensor wte").ok());
  const llmrt::GlobalTensor want = rows_of(8, 5);
  BOOST_TEST(grown.shape == want.shape);
  BOOST_TEST(grown.values == want.values);

  llmrt::GlobalTensor trimmed = rows_of(16, 5);
  BOOST_REQUIRE(llmrt::fit_vocab_rows(trimmed, entry, "file", "tensor wte").ok());
  BOOST_TEST(trimmed.values == want.values);

  llmrt::GlobalTensor same = rows_of(8, 5);
  BOOST_REQUIRE(llmrt::fit_vocab_rows(same, entry, "file", "tensor wte").ok());
  BOOST_TEST(same.values == want.values);
}

BOOST_AUTO_TEST_CASE(a_dropped_row_that_is_not_zero_is_refused_naming_it) {
  const llmrt::ParamEntry entry = padded_wte();
  llmrt::GlobalTensor tensor = rows_of(16, 5);
  tensor.values[10 * 3 + 2] = 1e-7f;  // row 10: not padding
  const llmrt::Status status = llmrt::fit_vocab_rows(tensor, entry, "ckpt/step_5", "wte exp_avg");
  BOOST_REQUIRE(!status.ok());
  const std::string message = status.error().message();
  BOOST_TEST(message.find("ckpt/step_5: wte exp_avg has 16 rows and row 10 is not zero") != std::string::npos, message);
  BOOST_TEST(message.find("vocab_pad_multiple") != std::string::npos, message);
  llmrt::GlobalTensor narrow{{5, 2}, std::vector<float>(10, 1.0f)};
  const llmrt::Status other = llmrt::fit_vocab_rows(narrow, entry, "f", "tensor wte");
  BOOST_REQUIRE(!other.ok());
  BOOST_TEST(other.error().message().find("f: tensor wte is [5, 2], this model's is [8, 3]") != std::string::npos,
             other.error().message());
}

BOOST_AUTO_TEST_CASE(zero_padded_rows_leaves_the_real_rows) {
  llmrt::GlobalTensor tensor = rows_of(8, 8);
  llmrt::zero_padded_rows(tensor.values, tensor.shape, 5);
  BOOST_TEST(tensor.values == rows_of(8, 5).values);
  llmrt::GlobalTensor untouched = rows_of(8, 8);
  llmrt::zero_padded_rows(untouched.values, untouched.shape, 0);  // not flagged
  BOOST_TEST(untouched.values == rows_of(8, 8).values);
}
