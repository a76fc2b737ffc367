// ComputeDevice::sum_in_order on the CPU device: the step's microbatch losses summed on the
// device must give the host loop's bits (`double sum = 0; sum += loss;` in order), since the CPU
// path's losses, and every test that compares them, must not move by a bit.
#define BOOST_TEST_MODULE device_sum
#include <boost/test/unit_test.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "device/buffer.h"
#include "device/cpu_device.h"

using namespace llmrt;

namespace {

// The reference: what the pipeline runner did on the host before the sum moved to the device.
double host_sum(const std::vector<float>& values) {
  double sum = 0;
  for (float v : values) sum += v;
  return sum;
}

// values through Buffers and a stream of the device, as the runner calls it.
double device_sum(ComputeDevice& device, const std::vector<float>& values) {
  auto slots = Buffer::allocate(device, LLMRT_DTYPE_F32, values.size());
  auto total = Buffer::allocate(device, kDtypeF64, 1);
  BOOST_TEST_REQUIRE(slots.ok());
  BOOST_TEST_REQUIRE(total.ok());
  BOOST_TEST_REQUIRE(device.copy(slots->data(), values.data(), values.size() * sizeof(float),
                                 CopyKind::kHostToDevice, nullptr).ok());
  auto stream = device.create_stream();
  BOOST_TEST_REQUIRE(stream.ok());
  total->data_as<double>()[0] = 12345.0;  // overwritten, not added to
  BOOST_TEST_REQUIRE(
      device.sum_in_order(total->data_as<double>(), slots->data_as<float>(), values.size(), stream->get()).ok());
  double got = 0;
  BOOST_TEST_REQUIRE(device.copy(&got, total->data(), sizeof got, CopyKind::kDeviceToHost, stream->get()).ok());
  BOOST_TEST_REQUIRE(device.synchronize(stream->get()).ok());
  return got;
}

}  // namespace

BOOST_AUTO_TEST_CASE(random_losses_give_the_host_loops_bits) {
  std::mt19937 rng(10);
  std::uniform_real_distribution<float> loss(0.5f, 11.0f);
  for (std::size_t n : {std::size_t(1), std::size_t(7), std::size_t(64), std::size_t(989)}) {
    std::vector<float> values(n);
    for (float& v : values) v = loss(rng);
    const double want = host_sum(values);
    const double got = device_sum(cpu_device(), values);
    BOOST_TEST(std::bit_cast<std::uint64_t>(got) == std::bit_cast<std::uint64_t>(want), "n = " << n);
  }
}

BOOST_AUTO_TEST_CASE(the_order_is_the_slots_order) {
  // 2^60 + 1 rounds back to 2^60 in f64: the order decides whether the 1 survives.
  const float big = std::ldexp(1.0f, 60);
  const std::vector<float> ones_last_survives{big, -big, 1.0f};
  const std::vector<float> one_first_is_lost{1.0f, big, -big};
  BOOST_TEST(device_sum(cpu_device(), ones_last_survives) == 1.0);
  BOOST_TEST(device_sum(cpu_device(), one_first_is_lost) == 0.0);
  BOOST_TEST(host_sum(ones_last_survives) == 1.0);
  BOOST_TEST(host_sum(one_first_is_lost) == 0.0);
}

BOOST_AUTO_TEST_CASE(no_losses_sum_to_zero_and_a_non_finite_one_shows) {
  BOOST_TEST(device_sum(cpu_device(), {}) == 0.0);
  const float inf = std::numeric_limits<float>::infinity();
  BOOST_TEST(std::isnan(device_sum(cpu_device(), {2.0f, inf, -inf, 3.0f})));
  BOOST_TEST(std::isinf(device_sum(cpu_device(), {2.0f, inf, 3.0f})));
  BOOST_TEST(std::isnan(device_sum(cpu_device(), {std::numeric_limits<float>::quiet_NaN()})));
}
