// The host as a device: memory from aligned_alloc, copies and fills that run at once, streams
// and events that are always complete. Inside a step's capture region (device/capture_region.h)
// it refuses what a CUDA graph could not hold, as the GPU would: the rehearsal's audit.
#pragma once

#include "device/device.h"

namespace llmrt {

class CpuDevice final : public ComputeDevice {
 public:
  llmrt_device id() const override { return llmrt_device{LLMRT_DEVICE_CPU, 0}; }
  Result<void*> allocate(std::size_t bytes) override;
  void free(void* pointer) noexcept override;
  Result<void*> allocate_host(std::size_t bytes) override;
  void free_host(void* pointer) noexcept override;
  Status copy(void* dst, const void* src, std::size_t bytes, CopyKind kind, Stream* stream) override;
  Status fill_zero(void* dst, std::size_t bytes, Stream* stream) override;
  Result<std::unique_ptr<Stream>> create_stream() override;
  Status synchronize(Stream*) override;
  Result<std::unique_ptr<Event>> create_event() override;
  Status record(Event&, Stream*) override { return Status::success(); }
  Status wait(Stream*, const Event&) override { return Status::success(); }
  Result<bool> query(const Event&) override { return true; }
  Status begin_capture(Stream*) override { return Status::success(); }
  Result<std::unique_ptr<DeviceGraph>> end_capture(Stream*) override { return std::unique_ptr<DeviceGraph>(); }
  Result<double> sum_of_squares(const float* data, std::size_t count, Stream* stream) override;
  Status accumulate_sum_of_squares(double* total, const float* data, std::size_t count, Stream* stream) override;
  Status scale(float* data, std::size_t count, float factor, Stream* stream) override;
  Status sum_in_order(double* total, const float* values, std::size_t count, Stream* stream) override;
  Status convert(void* dst, std::int32_t dst_dtype, const void* src, std::int32_t src_dtype, std::size_t count,
                 Stream* stream) override;
};

}  // namespace llmrt
