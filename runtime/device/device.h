// The device seam: what the executor asks of the memory its tensors live in (allocate, copy,
// fill, streams and events, the two reductions of the optimizer step, the loss's sum). A CPU implementation
// runs today; the CUDA one (cuda_device.h) is built with LLMRT_CUDA and exercised by the GPU path.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include <llmrt/plugin.h>

#include "device/deferred_frees.h"
#include "util/status.h"

namespace llmrt {

// Which side each pointer of a copy is on. The CPU device treats every kind as a memcpy.
enum class CopyKind { kHostToDevice, kDeviceToHost, kDeviceToDevice, kHostToHost };

// An ordered queue of work on one device. CPU work runs at once: its streams are empty tokens.
class Stream {
 public:
  virtual ~Stream() = default;
  // What plugins receive as llmrt_stream: the cudaStream_t on CUDA, NULL on the CPU.
  virtual llmrt_stream* plugin_handle() const = 0;
};

// A point in a stream's work that other streams or the host can wait for.
class Event {
 public:
  virtual ~Event() = default;
};

// A captured CUDA graph of a stream's work (ComputeDevice::end_capture), replayed by launch.
class DeviceGraph {
 public:
  virtual ~DeviceGraph() = default;
  virtual Status launch(Stream* stream) = 0;  // queues one replay on `stream`
};

class ComputeDevice {
 public:
  virtual ~ComputeDevice() = default;
  virtual llmrt_device id() const = 0;
  bool is_host() const { return id().type == LLMRT_DEVICE_CPU; }

  // Memory of this device: 64-byte aligned on the CPU. free(nullptr) is fine. On a GPU, free
  // defers: the block stays held (and counted) until release_deferred_frees(), so no free waits
  // for the device in the middle of a step (deferred_frees.h says why).
  virtual Result<void*> allocate(std::size_t bytes) = 0;
  virtual void free(void* pointer) noexcept = 0;
  // Gives the deferred blocks back (cudaFree, which waits for the device). Called only where the
  // host already waits for the device and every peer has queued its matching NCCL work: the
  // step's end (Trainer::train_step, after the loss's world all-reduce) and teardown. The CPU
  // frees at once: nothing waits.
  virtual Status release_deferred_frees() { return Status::success(); }
  // What the device holds and what waits for release (all zero on the CPU, which keeps no ledger).
  virtual DeviceMemoryCounts memory_counts() const { return {}; }
  // Pinned host memory for copies a CUDA graph replays (the copy node reads it at each launch;
  // pageable memory cannot be captured): cudaHostAlloc on CUDA, 64-byte aligned on the CPU.
  virtual Result<void*> allocate_host(std::size_t bytes) = 0;
  virtual void free_host(void* pointer) noexcept = 0;
  // How many times this device has freed memory (free, and the runtime's own frees on it): a
  // graph captured when it read n is replayed only while it still reads n, since a replay
  // writes and reads the addresses the capture saw (exec/step_graph.h).
  std::uint64_t frees() const { return frees_.load(std::memory_order_relaxed); }

  // Stream capture (train.cuda_graph). begin_capture: `stream`'s work from this thread is
  // recorded, not run (cudaStreamCaptureModeThreadLocal), until end_capture, which returns the
  // instantiated graph, or an error when the capture failed (it is ended either way). The CPU
  // runs everything at once: begin does nothing, end returns no graph (nullptr); what a capture
  // forbids is audited on both by device/capture_region.h.
  virtual Status begin_capture(Stream* stream) = 0;
  virtual Result<std::unique_ptr<DeviceGraph>> end_capture(Stream* stream) = 0;
  // Ordered on `stream` (nullptr: the device's default order; the CPU runs it at once).
  virtual Status copy(void* dst, const void* src, std::size_t bytes, CopyKind kind, Stream* stream) = 0;
  virtual Status fill_zero(void* dst, std::size_t bytes, Stream* stream) = 0;

  virtual Result<std::unique_ptr<Stream>> create_stream() = 0;
  virtual Status synchronize(Stream* stream) = 0;  // the host waits for the stream's work
  virtual Result<std::unique_ptr<Event>> create_event() = 0;
  virtual Status record(Event& event, Stream* stream) = 0;
  virtual Status wait(Stream* stream, const Event& event) = 0;  // `stream` waits, not the host
  virtual Result<bool> query(const Event& event) = 0;           // true once the event has passed

  // The optimizer step's reductions over f32 device memory (data: `count` elements), so the
  // global gradient norm and clipping never copy gradients to the host.
  virtual Result<double> sum_of_squares(const float* data, std::size_t count, Stream* stream) = 0;
  // The same reduction queued: *total (one f64, this device's memory) += the sum of squares of
  // data (count f32), the part computed as sum_of_squares computes it and then added in one f64
  // addition. Nothing waits: the global norm adds every entry, then the host reads *total once
  // (one wait per step on a GPU, not one per entry). The partial sums go to scratch of the
  // call's stream (CudaDevice keeps one per stream), so calls on two streams never share it and
  // nothing waits across streams; calls on one stream are ordered by it.
  virtual Status accumulate_sum_of_squares(double* total, const float* data, std::size_t count, Stream* stream) = 0;
  virtual Status scale(float* data, std::size_t count, float factor, Stream* stream) = 0;
  // The step's loss: *total (one f64, this device's memory) = values[0] + values[1] + ... +
  // values[count - 1] (f32, this device's memory), each widened to f64 and added left to right
  // starting from 0, as the host's `double sum = 0; for (v : values) sum += v;` does, bit for
  // bit (one thread on CUDA). Queued on `stream`: the host reads *total when it needs the value.
  virtual Status sum_in_order(double* total, const float* values, std::size_t count, Stream* stream) = 0;
  // Mixed precision: dst (count) of dst_dtype from src (count) of src_dtype, both in this
  // device's memory, each f32, bf16 or f16; narrowing rounds to nearest-even (llmrt/half.hpp).
  // The fp32 master weights' compute copy is made with it after every update.
  virtual Status convert(void* dst, std::int32_t dst_dtype, const void* src, std::int32_t src_dtype,
                         std::size_t count, Stream* stream) = 0;

 protected:
  void count_free() noexcept { frees_.fetch_add(1, std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> frees_{0};
};

// convert() on host memory: what the CPU device does, and the CUDA one through a host copy.
Status convert_on_host(void* dst, std::int32_t dst_dtype, const void* src, std::int32_t src_dtype,
                       std::size_t count);

// The host: one for the process (it has no state).
ComputeDevice& cpu_device();

// The ComputeDevice behind a plugin-visible llmrt_device: the CPU always, CUDA ordinals in builds
// with CUDA; nullptr for anything else.
ComputeDevice* device_for(llmrt_device device);

// The host waits for a plugin's stream: NULL (the CPU's) is always done.
Status synchronize_plugin_stream(llmrt_stream* stream);

}  // namespace llmrt
