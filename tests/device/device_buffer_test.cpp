// Buffer (owning, move-only, reused without reallocation), CpuDevice (copies, fills, the norm's
// reductions, streams and events) and SelfCollectives (a group of one copies), on odd sizes.
#define BOOST_TEST_MODULE device_buffer
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include "device/buffer.h"
#include "device/collectives.h"
#include "device/cpu_device.h"

using namespace llmrt;

namespace {

constexpr std::size_t kOdd = 989;  // no vector width divides it

// Non-zero, distinct values: a skipped copy or a zeroed buffer shows.
std::vector<float> ramp(std::size_t n, float scale = 1.0f) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = scale * (0.5f + 0.25f * static_cast<float>(i % 97));
  return v;
}

Buffer filled(const std::vector<float>& values) {
  auto buffer = Buffer::allocate(cpu_device(), LLMRT_DTYPE_F32, values.size());
  BOOST_TEST_REQUIRE(buffer.ok());
  std::copy(values.begin(), values.end(), buffer->span<float>().begin());
  return std::move(buffer).value();
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_buffer_knows_its_device_dtype_and_size) {
  auto buffer = Buffer::allocate(cpu_device(), LLMRT_DTYPE_I32, kOdd);
  BOOST_TEST_REQUIRE(buffer.ok());
  BOOST_TEST(buffer->count() == kOdd);
  BOOST_TEST(buffer->bytes() == kOdd * 4);
  BOOST_TEST(buffer->dtype() == LLMRT_DTYPE_I32);
  BOOST_TEST(buffer->on_host());
  BOOST_TEST(buffer->location().type == LLMRT_DEVICE_CPU);
  BOOST_TEST(reinterpret_cast<std::uintptr_t>(buffer->data()) % 64 == 0u);
  // A host span is the memory itself, not a copy.
  BOOST_TEST(static_cast<void*>(buffer->span<std::int32_t>().data()) == buffer->data());
  BOOST_TEST(dtype_size(kDtypeF64) == 8u);
  BOOST_TEST(std::string(dtype_name(LLMRT_DTYPE_BF16)) == "bf16");
}

BOOST_AUTO_TEST_CASE(zeros_are_zero_and_moves_hand_the_memory_over) {
  auto zeros = Buffer::zeros(cpu_device(), LLMRT_DTYPE_F32, kOdd);
  BOOST_TEST_REQUIRE(zeros.ok());
  for (float v : zeros->span<float>()) BOOST_TEST_REQUIRE(v == 0.0f);
  Buffer a = filled(ramp(kOdd));
  const void* memory = a.data();
  Buffer b = std::move(a);
  BOOST_TEST(b.data() == memory);
  BOOST_TEST(a.data() == nullptr);
  BOOST_TEST(a.count() == 0u);
  Buffer c;
  c = std::move(b);
  BOOST_TEST(c.data() == memory);
  BOOST_TEST(c.span<float>()[5] == ramp(kOdd)[5]);
}

BOOST_AUTO_TEST_CASE(resize_reuses_memory_until_it_needs_more) {
  Buffer buffer = filled(ramp(kOdd));
  const void* memory = buffer.data();
  BOOST_REQUIRE(buffer.resize(cpu_device(), LLMRT_DTYPE_F32, kOdd - 10).ok());
  BOOST_TEST(buffer.data() == memory);  // smaller: same memory, like a vector
  BOOST_TEST(buffer.count() == kOdd - 10);
  BOOST_REQUIRE(buffer.resize(cpu_device(), LLMRT_DTYPE_U8, kOdd * 4).ok());
  BOOST_TEST(buffer.data() == memory);  // the same bytes as another dtype
  BOOST_REQUIRE(buffer.resize(cpu_device(), LLMRT_DTYPE_F32, kOdd * 3).ok());
  BOOST_TEST(buffer.count() == kOdd * 3);
  Buffer empty;
  BOOST_REQUIRE(empty.resize(cpu_device(), LLMRT_DTYPE_F32, 0).ok());
  BOOST_TEST(empty.empty());
  BOOST_TEST(!empty.resize(cpu_device(), 99, 3).ok());  // unknown dtype: an error, not a crash
}

BOOST_AUTO_TEST_CASE(copies_and_fills_go_through_the_device) {
  const std::vector<float> values = ramp(kOdd);
  Buffer source = filled(values);
  auto target = Buffer::zeros(cpu_device(), LLMRT_DTYPE_F32, kOdd);
  BOOST_TEST_REQUIRE(target.ok());
  BOOST_REQUIRE(target->copy_from(source).ok());
  BOOST_TEST(std::vector<float>(target->span<float>().begin(), target->span<float>().end()) == values,
             boost::test_tools::per_element());
  BOOST_REQUIRE(target->zero().ok());
  for (float v : target->span<float>()) BOOST_TEST_REQUIRE(v == 0.0f);
  auto shorter = Buffer::allocate(cpu_device(), LLMRT_DTYPE_F32, kOdd - 1);
  BOOST_TEST_REQUIRE(shorter.ok());
  BOOST_TEST(!shorter->copy_from(source).ok());  // sizes must match
  BOOST_TEST((copy_kind({LLMRT_DEVICE_CPU, 0}, {LLMRT_DEVICE_CUDA, 1}) == CopyKind::kHostToDevice));
  BOOST_TEST((copy_kind({LLMRT_DEVICE_CUDA, 0}, {LLMRT_DEVICE_CPU, 0}) == CopyKind::kDeviceToHost));
}

BOOST_AUTO_TEST_CASE(the_norms_reductions_match_a_plain_loop) {
  std::vector<float> values = ramp(kOdd, -1.25f);
  double want = 0;
  for (float v : values) want += static_cast<double>(v) * v;
  auto sum = cpu_device().sum_of_squares(values.data(), values.size(), nullptr);
  BOOST_TEST_REQUIRE(sum.ok());
  BOOST_TEST(*sum == want, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(*sum > 0.0);
  BOOST_REQUIRE(cpu_device().scale(values.data(), values.size(), 0.5f, nullptr).ok());
  BOOST_TEST(values[7] == ramp(kOdd, -1.25f)[7] * 0.5f);
}

// The global norm's queued form: parts of unequal spans added into one f64 in call order give
// the old `sum += sum_of_squares(span)` loop's total bit for bit (the trainer relies on it).
BOOST_AUTO_TEST_CASE(accumulated_sums_of_squares_are_the_per_span_loop_bit_for_bit) {
  const std::vector<float> values = ramp(kOdd * 3, -0.37f);
  const std::size_t spans[][2] = {{0, 5}, {5, 0}, {5, kOdd}, {5 + kOdd, kOdd * 3 - 5 - kOdd}};
  double loop = 0;
  double total = 0.25;  // added into, not over: the test starts it non-zero, then zeroes it
  BOOST_REQUIRE(cpu_device().accumulate_sum_of_squares(&total, values.data(), 3, nullptr).ok());
  const auto square = [&](std::size_t i) { return static_cast<double>(values[i]) * values[i]; };
  BOOST_TEST(total == 0.25 + (square(0) + square(1) + square(2)));
  BOOST_REQUIRE(cpu_device().fill_zero(&total, sizeof total, nullptr).ok());
  for (const auto& [offset, count] : spans) {
    auto part = cpu_device().sum_of_squares(values.data() + offset, count, nullptr);
    BOOST_TEST_REQUIRE(part.ok());
    loop += *part;
    BOOST_REQUIRE(cpu_device().accumulate_sum_of_squares(&total, values.data() + offset, count, nullptr).ok());
  }
  BOOST_TEST(std::memcmp(&total, &loop, sizeof total) == 0, total << " vs " << loop);
  BOOST_TEST(total > 0.0);
}

BOOST_AUTO_TEST_CASE(cpu_streams_and_events_are_always_complete) {
  auto stream = cpu_device().create_stream();
  BOOST_TEST_REQUIRE(stream.ok());
  BOOST_TEST(((*stream)->plugin_handle() == nullptr));
  auto event = cpu_device().create_event();
  BOOST_TEST_REQUIRE(event.ok());
  BOOST_REQUIRE(cpu_device().record(**event, stream->get()).ok());
  BOOST_REQUIRE(cpu_device().wait(stream->get(), **event).ok());
  auto done = cpu_device().query(**event);
  BOOST_TEST_REQUIRE(done.ok());
  BOOST_TEST(*done);
  BOOST_REQUIRE(cpu_device().synchronize(stream->get()).ok());
  BOOST_TEST((device_for({LLMRT_DEVICE_CPU, 0}) == &cpu_device()));
  BOOST_TEST(synchronize_plugin_stream(nullptr).ok());
}

BOOST_AUTO_TEST_CASE(a_group_of_one_copies) {
  SelfCollectives alone(cpu_device());
  BOOST_TEST(alone.rank() == 0);
  BOOST_TEST(alone.size() == 1);
  const std::vector<float> values = ramp(kOdd);
  std::vector<float> out(kOdd, 0.0f);
  BOOST_REQUIRE(alone.all_reduce(values.data(), out.data(), kOdd, LLMRT_DTYPE_F32, LLMRT_REDUCE_SUM, nullptr).ok());
  BOOST_TEST(out == values, boost::test_tools::per_element());
  std::fill(out.begin(), out.end(), 0.0f);
  BOOST_REQUIRE(alone.all_gather(values.data(), out.data(), kOdd, LLMRT_DTYPE_F32, nullptr).ok());
  BOOST_TEST(out == values, boost::test_tools::per_element());
  Buffer in_place = filled(values);
  auto request = alone.start_all_reduce(in_place, LLMRT_REDUCE_SUM);
  BOOST_TEST_REQUIRE(request.ok());
  BOOST_TEST((*request == nullptr));  // done when started
  BOOST_TEST(in_place.span<float>()[11] == values[11]);
  BOOST_TEST(!alone.broadcast(out.data(), kOdd, LLMRT_DTYPE_F32, 1, nullptr).ok());
  BOOST_TEST(!alone.start_send(in_place, 1, 0).ok());  // no peer to send to
}
