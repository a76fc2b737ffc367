// CpuDevice, and the lookup from a plugin's llmrt_device to a ComputeDevice.
#include "device/cpu_device.h"
#include "device/capture_region.h"
#include "device/dtype.h"

#include <cstdlib>
#include <cstring>
#include <vector>

#include <llmrt/half.hpp>

#if LLMRT_HAVE_CUDA
#include "device/cuda_device.h"
#endif

namespace llmrt {
namespace {

constexpr std::size_t kAlignment = 64;  // a cache line: SIMD loads never straddle two

class CpuStream final : public Stream {
 public:
  llmrt_stream* plugin_handle() const override { return nullptr; }
};

class CpuEvent final : public Event {};

}  // namespace

Result<void*> CpuDevice::allocate(std::size_t bytes) {
  LLMRT_RETURN_IF_ERROR(CaptureRegion::refuse(fmt::format("allocate ({} bytes)", bytes)));
  return allocate_host(bytes);
}

void CpuDevice::free(void* pointer) noexcept {
  if (pointer == nullptr) return;
  CaptureRegion::note("free");
  count_free();
  std::free(pointer);
}

Status CpuDevice::synchronize(Stream*) { return CaptureRegion::refuse("synchronize (a stream)"); }

Result<void*> CpuDevice::allocate_host(std::size_t bytes) {
  // aligned_alloc wants a size that is a multiple of the alignment.
  const std::size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  void* pointer = std::aligned_alloc(kAlignment, rounded == 0 ? kAlignment : rounded);
  if (pointer == nullptr) return Error(ErrorKind::kRuntime, fmt::format("host allocation of {} bytes failed", bytes));
  return pointer;
}

void CpuDevice::free_host(void* pointer) noexcept { std::free(pointer); }

Status CpuDevice::copy(void* dst, const void* src, std::size_t bytes, CopyKind, Stream*) {
  if (bytes > 0 && dst != src) std::memmove(dst, src, bytes);
  return Status::success();
}

Status CpuDevice::fill_zero(void* dst, std::size_t bytes, Stream*) {
  if (bytes > 0) std::memset(dst, 0, bytes);
  return Status::success();
}

Result<std::unique_ptr<Stream>> CpuDevice::create_stream() { return std::unique_ptr<Stream>(new CpuStream()); }

Result<std::unique_ptr<Event>> CpuDevice::create_event() { return std::unique_ptr<Event>(new CpuEvent()); }

Result<double> CpuDevice::sum_of_squares(const float* data, std::size_t count, Stream*) {
  LLMRT_RETURN_IF_ERROR(CaptureRegion::refuse("sum_of_squares (a value read back to the host)"));
  double sum = 0;
  for (std::size_t i = 0; i < count; ++i) sum += static_cast<double>(data[i]) * data[i];
  return sum;
}

// The part exactly as sum_of_squares returns it, then one addition: a loop of these is the
// host's `sum += part` loop bit for bit.
Status CpuDevice::accumulate_sum_of_squares(double* total, const float* data, std::size_t count, Stream* stream) {
  LLMRT_ASSIGN_OR_RETURN(const double part, sum_of_squares(data, count, stream));
  *total += part;
  return Status::success();
}

Status CpuDevice::scale(float* data, std::size_t count, float factor, Stream*) {
  for (std::size_t i = 0; i < count; ++i) data[i] *= factor;
  return Status::success();
}

Status CpuDevice::sum_in_order(double* total, const float* values, std::size_t count, Stream*) {
  double sum = 0;
  for (std::size_t i = 0; i < count; ++i) sum += values[i];
  *total = sum;
  return Status::success();
}

Status CpuDevice::convert(void* dst, std::int32_t dst_dtype, const void* src, std::int32_t src_dtype,
                          std::size_t count, Stream*) {
  return convert_on_host(dst, dst_dtype, src, src_dtype, count);
}

Status convert_on_host(void* dst, std::int32_t dst_dtype, const void* src, std::int32_t src_dtype,
                       std::size_t count) {
  if (!is_float_storage(dst_dtype) || !is_float_storage(src_dtype)) {
    return runtime_error("convert: {} to {} is not a floating-point conversion", dtype_name(src_dtype),
                         dtype_name(dst_dtype));
  }
  if (src_dtype == LLMRT_DTYPE_F32) {
    from_float(dst, static_cast<const float*>(src), dst_dtype, count);
  } else if (dst_dtype == LLMRT_DTYPE_F32) {
    to_float(static_cast<float*>(dst), src, src_dtype, count);
  } else if (src_dtype == dst_dtype) {
    if (count > 0 && dst != src) std::memmove(dst, src, count * dtype_size(src_dtype));
  } else {  // bf16 <-> f16 through fp32
    std::vector<float> wide(count);
    to_float(wide.data(), src, src_dtype, count);
    from_float(dst, wide.data(), dst_dtype, count);
  }
  return Status::success();
}

ComputeDevice& cpu_device() {
  static CpuDevice device;
  return device;
}

ComputeDevice* device_for(llmrt_device device) {
  if (device.type == LLMRT_DEVICE_CPU) return &cpu_device();
#if LLMRT_HAVE_CUDA
  if (device.type == LLMRT_DEVICE_CUDA) return cuda_device(device.index);
#endif
  return nullptr;
}

Status synchronize_plugin_stream(llmrt_stream* stream) {
  LLMRT_RETURN_IF_ERROR(CaptureRegion::refuse("stream_synchronize"));
  if (stream == nullptr) return Status::success();
#if LLMRT_HAVE_CUDA
  return synchronize_cuda_stream(stream);
#else
  return runtime_error("a non-NULL stream in a build without CUDA");
#endif
}

}  // namespace llmrt
