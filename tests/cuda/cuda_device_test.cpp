// CudaDevice's reductions and conversions (runtime/device/cuda_device.cpp), now kernels on the
// device: sum_of_squares against an fp64 host sum, scale exactly, and convert between f32, bf16
// and f16 bit for bit against the host's rounding (llmrt/half.hpp), and sum_in_order (the step's
// losses) bit for bit against the host loop, all on a non-default stream.
#define BOOST_TEST_MODULE cuda_device
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>

#include <llmrt/half.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "cuda/cuda_test_util.h"
#include "device/capture_region.h"
#include "device/cuda_device.h"

using namespace llmrt::kernels::cuda_test;
using llmrt::kernels::test::random_floats;

namespace {

llmrt::ComputeDevice& device0() {
  llmrt::ComputeDevice* device = llmrt::cuda_device(0);
  BOOST_TEST_REQUIRE(device != nullptr);
  return *device;
}

std::unique_ptr<llmrt::Stream> make_stream(llmrt::ComputeDevice& device) {
  auto stream = device.create_stream();
  BOOST_TEST_REQUIRE(stream.ok());
  return std::move(*stream);
}

}  // namespace

BOOST_AUTO_TEST_CASE(sum_of_squares_and_scale) {
  llmrt::ComputeDevice& device = device0();
  auto stream = make_stream(device);
  std::mt19937 rng(61);
  for (size_t n : {size_t(1), size_t(1000), size_t(1 << 20) + 3}) {
    const std::vector<float> x = random_floats(n, rng, -2.0f, 2.0f);
    DeviceBuffer<float> d = to_device(x);
    double want = 0;
    for (float v : x) want += double(v) * v;
    auto got = device.sum_of_squares(d.get(), n, stream.get());
    BOOST_TEST_REQUIRE(got.ok(), (got.ok() ? "" : got.error().message()));
    BOOST_TEST(std::fabs(*got - want) <= 1e-12 * want, "n = " << n << ": " << *got << " vs " << want);
    auto again = device.sum_of_squares(d.get(), n, stream.get());
    BOOST_TEST(*again == *got, "the same order every time");

    BOOST_TEST_REQUIRE(device.scale(d.get(), n, 0.375f, stream.get()).ok());
    BOOST_TEST_REQUIRE(device.synchronize(stream.get()).ok());
    const std::vector<float> scaled = to_host(d);
    for (size_t i = 0; i < n; ++i) BOOST_TEST_REQUIRE(scaled[i] == x[i] * 0.375f);
  }
}

// The global norm's queued form (Trainer::global_grad_norm): entries of a flat gradient buffer
// at odd offsets added into one f64 on the device, read once, against the per-entry
// sum_of_squares loop it replaced (same kernel per entry, so equal within 1e-12 relative, and
// in fact bit for bit), and the same on the legacy default stream the trainer uses.
BOOST_AUTO_TEST_CASE(accumulated_sum_of_squares_equals_the_per_entry_loop) {
  llmrt::ComputeDevice& device = device0();
  auto stream = make_stream(device);
  std::mt19937 rng(64);
  const std::vector<float> flat = random_floats((1 << 20) + 4099, rng, -1.5f, 1.5f);
  DeviceBuffer<float> grads = to_device(flat);
  const size_t entries[][2] = {{0, 1}, {1, 768}, {769, 0}, {769, (1 << 20) + 3}, {(1 << 20) + 772, 3327}};
  DeviceBuffer<double> total(1);
  for (llmrt::Stream* s : {stream.get(), static_cast<llmrt::Stream*>(nullptr)}) {
    double loop = 0, host = 0;
    for (const auto& [offset, count] : entries) {
      auto part = device.sum_of_squares(grads.get() + offset, count, s);
      BOOST_TEST_REQUIRE(part.ok(), (part.ok() ? "" : part.error().message()));
      loop += *part;
      for (size_t i = offset; i < offset + count; ++i) host += double(flat[i]) * flat[i];
    }
    BOOST_TEST_REQUIRE(device.fill_zero(total.get(), sizeof(double), s).ok());
    for (const auto& [offset, count] : entries) {
      const auto status = device.accumulate_sum_of_squares(total.get(), grads.get() + offset, count, s);
      BOOST_TEST_REQUIRE(status.ok(), (status.ok() ? "" : status.error().message()));
    }
    double queued = -1;
    BOOST_TEST_REQUIRE(device.copy(&queued, total.get(), sizeof queued, llmrt::CopyKind::kDeviceToHost, s).ok());
    BOOST_TEST_REQUIRE(device.synchronize(s).ok());
    BOOST_TEST(std::fabs(queued - loop) <= 1e-12 * loop, queued << " vs the per-entry loop's " << loop);
    BOOST_TEST(queued == loop, "one f64 addition per entry, in entry order, as the host loop adds");
    BOOST_TEST(std::fabs(queued - host) <= 1e-12 * host, queued << " vs the host's " << host);
  }
}

BOOST_AUTO_TEST_CASE(convert_rounds_as_the_host_does) {
  llmrt::ComputeDevice& device = device0();
  auto stream = make_stream(device);
  std::mt19937 rng(62);
  std::vector<float> x = random_floats(4099, rng, -70000.0f, 70000.0f);  // past f16's range: inf
  for (size_t i = 0; i < 1000; ++i) x[i] *= 1e-9f;                        // and into its subnormals
  const size_t n = x.size();
  DeviceBuffer<float> wide = to_device(x), back(n);
  DeviceBuffer<unsigned short> bf16(n), f16(n), bf16_from_f16(n), f16_from_bf16(n);
  const auto run = [&](void* dst, int32_t dst_dtype, const void* src, int32_t src_dtype) {
    const auto status = device.convert(dst, dst_dtype, src, src_dtype, n, stream.get());
    BOOST_TEST_REQUIRE(status.ok(), (status.ok() ? "" : status.error().message()));
  };
  run(bf16.get(), LLMRT_DTYPE_BF16, wide.get(), LLMRT_DTYPE_F32);
  run(f16.get(), LLMRT_DTYPE_F16, wide.get(), LLMRT_DTYPE_F32);
  run(f16_from_bf16.get(), LLMRT_DTYPE_F16, bf16.get(), LLMRT_DTYPE_BF16);
  run(bf16_from_f16.get(), LLMRT_DTYPE_BF16, f16.get(), LLMRT_DTYPE_F16);
  run(back.get(), LLMRT_DTYPE_F32, f16.get(), LLMRT_DTYPE_F16);
  BOOST_TEST_REQUIRE(device.synchronize(stream.get()).ok());
  std::vector<unsigned short> b(n), h(n), hb(n), bh(n);
  bf16.download(b.data(), n), f16.download(h.data(), n);
  f16_from_bf16.download(hb.data(), n), bf16_from_f16.download(bh.data(), n);
  const std::vector<float> widened = to_host(back);
  for (size_t i = 0; i < n; ++i) {
    BOOST_TEST_REQUIRE(b[i] == llmrt::bf16_from_float(x[i]), "bf16 of " << x[i]);
    BOOST_TEST_REQUIRE(h[i] == llmrt::f16_from_float(x[i]), "f16 of " << x[i]);
    BOOST_TEST_REQUIRE(hb[i] == llmrt::f16_from_float(llmrt::float_from_bf16(b[i])), "f16 of bf16 " << x[i]);
    BOOST_TEST_REQUIRE(bh[i] == llmrt::bf16_from_float(llmrt::float_from_f16(h[i])), "bf16 of f16 " << x[i]);
    const float want = llmrt::float_from_f16(h[i]);
    BOOST_TEST_REQUIRE((widened[i] == want || (std::isnan(want) && std::isnan(widened[i]))), "f32 of f16 " << x[i]);
  }
}

LLMRT_CUDA_TEST_MAIN()

// sum_in_order: a step's microbatch losses summed on the device must be the host loop's bits
// (`double sum = 0; sum += loss;` in slot order), on a non-default stream, from slots at an
// unaligned offset of a larger buffer, including an order-sensitive case and a non-finite one.
BOOST_AUTO_TEST_CASE(sum_in_order_gives_the_host_loops_bits) {
  llmrt::ComputeDevice& device = device0();
  auto stream = make_stream(device);
  std::mt19937 rng(67);
  const float big = std::ldexp(1.0f, 60);  // 2^60 + 1 rounds to 2^60 in f64: the order shows
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<std::vector<float>> cases{{}, {2.5f}, {big, -big, 1.0f}, {1.0f, big, -big}, {3.0f, inf, 4.0f}};
  for (size_t n : {size_t(8), size_t(64), size_t(1000), size_t(4099)}) cases.push_back(random_floats(n, rng, 0.5f, 11.0f));
  DeviceBuffer<double> total(1);
  for (const std::vector<float>& values : cases) {
    std::vector<float> padded(values.size() + 3, 99.0f);  // the slots start 3 floats in
    std::copy(values.begin(), values.end(), padded.begin() + 3);
    DeviceBuffer<float> slots = to_device(padded);
    double want = 0;
    for (float v : values) want += v;
    BOOST_TEST_REQUIRE(device.sum_in_order(total.get(), slots.get() + 3, values.size(), stream.get()).ok());
    double got = -1;
    BOOST_TEST_REQUIRE(
        device.copy(&got, total.get(), sizeof got, llmrt::CopyKind::kDeviceToHost, stream.get()).ok());
    BOOST_TEST_REQUIRE(device.synchronize(stream.get()).ok());
    std::uint64_t got_bits = 0, want_bits = 0;
    std::memcpy(&got_bits, &got, sizeof got);
    std::memcpy(&want_bits, &want, sizeof want);
    BOOST_TEST(got_bits == want_bits, values.size() << " values: " << got << " vs " << want);
  }
}

// train.cuda_graph's device API: a capture records (does not run) a fill and a copy from pinned
// host memory; each launch runs them again and reads the pinned memory as it is at the launch.
// Inside the capture region an allocation is refused, and a free counts in frees().
BOOST_AUTO_TEST_CASE(capture_a_fill_and_a_copy_and_replay_twice) {
  llmrt::ComputeDevice& device = device0();
  auto stream = make_stream(device);
  constexpr std::size_t n = 1000;
  auto pinned = device.allocate_host(n * sizeof(float));
  BOOST_TEST_REQUIRE(pinned.ok());
  float* host = static_cast<float*>(*pinned);
  for (std::size_t i = 0; i < n; ++i) host[i] = float(i) + 0.5f;
  DeviceBuffer<float> zeroed(n), copied(n);
  const std::vector<float> sentinel(n, -7.0f);
  zeroed.upload(sentinel.data(), n);
  copied.upload(sentinel.data(), n);

  std::unique_ptr<llmrt::DeviceGraph> graph;
  {
    llmrt::CaptureRegion region;
    BOOST_TEST_REQUIRE(device.begin_capture(stream.get()).ok());
    BOOST_TEST(device.fill_zero(zeroed.get(), n * sizeof(float), stream.get()).ok());
    BOOST_TEST(device.copy(copied.get(), host, n * sizeof(float), llmrt::CopyKind::kHostToDevice, stream.get()).ok());
    auto refused = device.allocate(64);
    BOOST_TEST(!refused.ok());
    auto ended = device.end_capture(stream.get());
    BOOST_TEST_REQUIRE(ended.ok(), (ended.ok() ? "" : ended.error().message()));
    graph = std::move(*ended);
  }
  BOOST_TEST_REQUIRE(graph != nullptr);
  BOOST_TEST_REQUIRE(device.synchronize(stream.get()).ok());
  BOOST_TEST(to_host(zeroed) == sentinel);  // recorded, not run
  BOOST_TEST(to_host(copied) == sentinel);

  BOOST_TEST_REQUIRE(graph->launch(stream.get()).ok());
  BOOST_TEST_REQUIRE(device.synchronize(stream.get()).ok());
  BOOST_TEST(to_host(zeroed) == std::vector<float>(n, 0.0f));
  std::vector<float> want(host, host + n);
  BOOST_TEST(to_host(copied) == want);

  for (std::size_t i = 0; i < n; ++i) host[i] = -float(i);  // the staging rewritten between replays
  zeroed.upload(sentinel.data(), n);
  BOOST_TEST_REQUIRE(graph->launch(stream.get()).ok());
  BOOST_TEST_REQUIRE(device.synchronize(stream.get()).ok());
  want.assign(host, host + n);
  BOOST_TEST(to_host(copied) == want);
  BOOST_TEST(to_host(zeroed) == std::vector<float>(n, 0.0f));

  const std::uint64_t frees = device.frees();
  auto memory = device.allocate(64);
  BOOST_TEST_REQUIRE(memory.ok());
  device.free(*memory);
  BOOST_TEST(device.frees() == frees + 1);
  graph.reset();
  device.free_host(host);
}
