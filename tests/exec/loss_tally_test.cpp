// LossTally on the CPU device: the pass's losses summed in the order they were added (the
// order the runner's host loop used: the same bits), the first non-finite one found by its
// microbatch, a wrong-sized loss or one past the pass's capacity refused with context, and a
// tally reused across passes.
#define BOOST_TEST_MODULE exec_loss_tally
#include <boost/test/unit_test.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "device/cpu_device.h"
#include "exec/loss_tally.h"

using namespace llmrt;

namespace {

Buffer scalar(float value) {
  auto buffer = Buffer::allocate(cpu_device(), LLMRT_DTYPE_F32, 1);
  BOOST_TEST_REQUIRE(buffer.ok());
  buffer->data_as<float>()[0] = value;
  return std::move(*buffer);
}

}  // namespace

BOOST_AUTO_TEST_CASE(sums_in_the_order_added_as_the_host_did) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> loss(1.0f, 11.0f);
  LossTally tally;
  for (int pass = 0; pass < 3; ++pass) {  // reused: a smaller pass after a larger one, then larger again
    const int microbatches = pass == 1 ? 3 : 16 + pass;
    BOOST_TEST_REQUIRE(tally.begin(cpu_device(), static_cast<std::size_t>(microbatches)).ok());
    double want = 0;
    for (int k = 0; k < microbatches; ++k) {
      const int mb = (k * 5) % microbatches;  // an order that is not the microbatch order
      const Buffer value = scalar(loss(rng));
      want += value.data_as<float>()[0];
      BOOST_TEST_REQUIRE(tally.add(value, mb, nullptr).ok());
    }
    auto got = tally.finish(nullptr);
    BOOST_TEST_REQUIRE(got.ok());
    BOOST_TEST(std::bit_cast<std::uint64_t>(*got) == std::bit_cast<std::uint64_t>(want), "pass " << pass);
    auto bad = tally.first_non_finite(nullptr);
    BOOST_TEST_REQUIRE(bad.ok());
    BOOST_TEST(!bad->has_value());
  }
}

BOOST_AUTO_TEST_CASE(names_the_first_non_finite_microbatch_in_the_order_added) {
  LossTally tally;
  BOOST_TEST_REQUIRE(tally.begin(cpu_device(), 4).ok());
  const float inf = std::numeric_limits<float>::infinity();
  for (auto [mb, value] : std::vector<std::pair<int, float>>{{3, 2.0f}, {1, inf}, {0, -inf}, {2, 1.0f}}) {
    BOOST_TEST_REQUIRE(tally.add(scalar(value), mb, nullptr).ok());
  }
  auto sum = tally.finish(nullptr);
  BOOST_TEST_REQUIRE(sum.ok());
  BOOST_TEST(std::isnan(*sum));
  auto bad = tally.first_non_finite(nullptr);
  BOOST_TEST_REQUIRE(bad.ok());
  BOOST_TEST_REQUIRE(bad->has_value());
  BOOST_TEST((*bad)->microbatch == 1);
  BOOST_TEST(std::isinf((*bad)->loss));
}

BOOST_AUTO_TEST_CASE(an_empty_pass_sums_to_zero) {
  LossTally tally;
  BOOST_TEST_REQUIRE(tally.begin(cpu_device(), 0).ok());
  auto sum = tally.finish(nullptr);
  BOOST_TEST_REQUIRE(sum.ok());
  BOOST_TEST(*sum == 0.0);
}

BOOST_AUTO_TEST_CASE(refuses_a_loss_that_is_not_one_f32_or_past_capacity) {
  LossTally tally;
  BOOST_TEST_REQUIRE(tally.begin(cpu_device(), 1).ok());
  auto two = Buffer::allocate(cpu_device(), LLMRT_DTYPE_F32, 2);
  BOOST_TEST_REQUIRE(two.ok());
  const Status wrong = tally.add(*two, 5, nullptr);
  BOOST_TEST_REQUIRE(!wrong.ok());
  BOOST_TEST(wrong.error().message().find("microbatch 5: the last layer gave 2 f32 values") != std::string::npos,
             wrong.error().message());
  BOOST_TEST_REQUIRE(tally.add(scalar(1.0f), 0, nullptr).ok());
  const Status past = tally.add(scalar(1.0f), 1, nullptr);
  BOOST_TEST_REQUIRE(!past.ok());
  BOOST_TEST(past.error().message().find("loss slot 1 past the 1") != std::string::npos, past.error().message());
}
