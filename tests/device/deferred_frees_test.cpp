// The bookkeeping of a GPU device's deferred frees (runtime/device/deferred_frees.h), on the CPU:
// a freed block stays held and counted until the safe point releases it, never twice, never one
// the device did not hand out; and Buffer's reallocation and destruction go through it, as they
// do on CudaDevice, so a Buffer that grows mid-step leaves its old block for the step's end.
#define BOOST_TEST_MODULE deferred_frees
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <set>
#include <vector>

#include "device/buffer.h"
#include "device/cpu_device.h"
#include "device/deferred_frees.h"

using namespace llmrt;

namespace {

// The CPU's compute, with CudaDevice's memory protocol: allocate records, free defers,
// release_deferred_frees gives the blocks back (std::free) and remembers which.
class DeferringDevice final : public ComputeDevice {
 public:
  ~DeferringDevice() override { (void)release_deferred_frees(); }
  llmrt_device id() const override { return llmrt_device{LLMRT_DEVICE_CUDA, 0}; }  // not the host
  Result<void*> allocate(std::size_t bytes) override {
    void* pointer = std::malloc(bytes == 0 ? 1 : bytes);
    frees_.allocated(pointer, bytes);
    return pointer;
  }
  void free(void* pointer) noexcept override {
    if (pointer != nullptr && !frees_.defer(pointer)) ++refused;
  }
  Status release_deferred_frees() override {
    const std::vector<void*> pending = frees_.take_pending();
    for (void* pointer : pending) {
      released.insert(pointer);
      std::free(pointer);
    }
    frees_.released(pending.size());
    return Status::success();
  }
  DeviceMemoryCounts memory_counts() const override { return frees_.counts(); }

  Status copy(void* dst, const void* src, std::size_t bytes, CopyKind kind, Stream* stream) override {
    return cpu_device().copy(dst, src, bytes, kind, stream);
  }
  Status fill_zero(void* dst, std::size_t bytes, Stream* stream) override {
    return cpu_device().fill_zero(dst, bytes, stream);
  }
  Result<std::unique_ptr<Stream>> create_stream() override { return cpu_device().create_stream(); }
  Status synchronize(Stream* stream) override { return cpu_device().synchronize(stream); }
  Result<std::unique_ptr<Event>> create_event() override { return cpu_device().create_event(); }
  Status record(Event& event, Stream* stream) override { return cpu_device().record(event, stream); }
  Status wait(Stream* stream, const Event& event) override { return cpu_device().wait(stream, event); }
  Result<bool> query(const Event& event) override { return cpu_device().query(event); }
  Result<double> sum_of_squares(const float* data, std::size_t count, Stream* stream) override {
    return cpu_device().sum_of_squares(data, count, stream);
  }
  Status accumulate_sum_of_squares(double* total, const float* data, std::size_t count, Stream* stream) override {
    return cpu_device().accumulate_sum_of_squares(total, data, count, stream);
  }
  Result<void*> allocate_host(std::size_t bytes) override { return cpu_device().allocate_host(bytes); }
  void free_host(void* pointer) noexcept override { cpu_device().free_host(pointer); }
  Status begin_capture(Stream* stream) override { return cpu_device().begin_capture(stream); }
  Result<std::unique_ptr<DeviceGraph>> end_capture(Stream* stream) override { return cpu_device().end_capture(stream); }
  Status scale(float* data, std::size_t count, float factor, Stream* stream) override {
    return cpu_device().scale(data, count, factor, stream);
  }
  Status sum_in_order(double* total, const float* values, std::size_t count, Stream* stream) override {
    return cpu_device().sum_in_order(total, values, count, stream);
  }
  Status convert(void* dst, std::int32_t dst_dtype, const void* src, std::int32_t src_dtype, std::size_t count,
                 Stream* stream) override {
    return cpu_device().convert(dst, dst_dtype, src, src_dtype, count, stream);
  }

  std::set<void*> released;  // every block given back so far
  int refused = 0;           // frees the ledger refused

 private:
  DeferredFrees frees_;
};

}  // namespace

BOOST_AUTO_TEST_CASE(a_freed_block_is_held_until_taken_and_counted_once) {
  DeferredFrees ledger;
  int a = 0, b = 0, c = 0;
  ledger.allocated(&a, 100);
  ledger.allocated(&b, 28);
  ledger.allocated(&c, 7);
  BOOST_TEST(ledger.counts().held_bytes == 135u);
  BOOST_TEST(ledger.defer(&b));
  BOOST_TEST(ledger.defer(&a));
  DeviceMemoryCounts counts = ledger.counts();
  BOOST_TEST(counts.held_bytes == 135u);  // deferred blocks are still held
  BOOST_TEST(counts.pending_bytes == 128u);
  BOOST_TEST(counts.pending_blocks == 2u);
  BOOST_TEST(counts.deferred_total == 2u);
  BOOST_TEST(counts.released_total == 0u);

  const std::vector<void*> taken = ledger.take_pending();
  BOOST_TEST_REQUIRE(taken.size() == 2u);
  BOOST_TEST(taken[0] == static_cast<void*>(&b));  // in the order they were freed
  BOOST_TEST(taken[1] == static_cast<void*>(&a));
  ledger.released(taken.size());
  counts = ledger.counts();
  BOOST_TEST(counts.held_bytes == 7u);
  BOOST_TEST(counts.pending_bytes == 0u);
  BOOST_TEST(counts.pending_blocks == 0u);
  BOOST_TEST(counts.released_total == 2u);
  BOOST_TEST(ledger.take_pending().empty());  // nothing is released twice
}

BOOST_AUTO_TEST_CASE(a_double_free_or_a_stranger_is_refused) {
  DeferredFrees ledger;
  int a = 0, stranger = 0;
  ledger.allocated(&a, 64);
  BOOST_TEST(!ledger.defer(&stranger));
  BOOST_TEST(ledger.defer(&a));
  BOOST_TEST(!ledger.defer(&a));  // freed twice before the safe point
  BOOST_TEST(ledger.take_pending().size() == 1u);
  BOOST_TEST(!ledger.defer(&a));  // and after it: the block is no longer held
  BOOST_TEST(ledger.counts().deferred_total == 1u);
}

BOOST_AUTO_TEST_CASE(a_buffer_that_grows_leaves_its_old_block_for_the_safe_point) {
  DeferringDevice device;
  auto buffer = Buffer::allocate(device, LLMRT_DTYPE_F32, 16);
  BOOST_TEST_REQUIRE(buffer.ok());
  void* first = buffer->data();
  BOOST_TEST_REQUIRE(buffer->resize(device, LLMRT_DTYPE_F32, 8).ok());  // fits: no reallocation
  BOOST_TEST(buffer->data() == first);
  BOOST_TEST(device.memory_counts().deferred_total == 0u);

  BOOST_TEST_REQUIRE(buffer->resize(device, LLMRT_DTYPE_F32, 1000).ok());  // grows mid-step
  BOOST_TEST(buffer->data() != first);
  DeviceMemoryCounts counts = device.memory_counts();
  BOOST_TEST(counts.pending_blocks == 1u);
  BOOST_TEST(counts.pending_bytes == 64u);
  BOOST_TEST(counts.held_bytes == 64u + 4000u);  // old and new, until the safe point
  BOOST_TEST(device.released.empty());

  BOOST_TEST_REQUIRE(device.release_deferred_frees().ok());  // the step's end
  BOOST_TEST(device.released.count(first) == 1u);
  counts = device.memory_counts();
  BOOST_TEST(counts.held_bytes == 4000u);
  BOOST_TEST(counts.pending_blocks == 0u);
  BOOST_TEST(counts.released_total == 1u);

  void* second = buffer->data();
  *buffer = Buffer();  // dropped: deferred too
  BOOST_TEST(device.memory_counts().pending_bytes == 4000u);
  BOOST_TEST(device.released.count(second) == 0u);
  BOOST_TEST_REQUIRE(device.release_deferred_frees().ok());
  BOOST_TEST(device.released.count(second) == 1u);
  BOOST_TEST(device.memory_counts().held_bytes == 0u);
  BOOST_TEST(device.refused == 0);
}

BOOST_AUTO_TEST_CASE(the_cpu_frees_at_once_and_keeps_no_ledger) {
  auto buffer = Buffer::allocate(cpu_device(), LLMRT_DTYPE_F32, 100);
  BOOST_TEST_REQUIRE(buffer.ok());
  *buffer = Buffer();
  BOOST_TEST(cpu_device().memory_counts().pending_blocks == 0u);
  BOOST_TEST(cpu_device().memory_counts().held_bytes == 0u);
  BOOST_TEST(cpu_device().release_deferred_frees().ok());
}
