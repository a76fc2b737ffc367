// Buffer: allocation through its device, reuse without reallocation, copies by location.
#include "device/buffer.h"

namespace llmrt {

Result<Buffer> Buffer::allocate(ComputeDevice& device, std::int32_t dtype, std::size_t count) {
  Buffer buffer;
  LLMRT_RETURN_IF_ERROR(buffer.resize(device, dtype, count));
  return buffer;
}

Result<Buffer> Buffer::zeros(ComputeDevice& device, std::int32_t dtype, std::size_t count) {
  LLMRT_ASSIGN_OR_RETURN(Buffer buffer, allocate(device, dtype, count));
  LLMRT_RETURN_IF_ERROR(buffer.zero());
  return buffer;
}

Status Buffer::resize(ComputeDevice& device, std::int32_t dtype, std::size_t count) {
  const std::size_t element = dtype_size(dtype);
  if (element == 0) return runtime_error("buffer of unknown dtype {}", dtype);
  const std::size_t bytes = count * element;
  if (&device != device_ || bytes > capacity_) {
    release();
    if (bytes > 0) {
      LLMRT_ASSIGN_OR_RETURN_CTX(data_, device.allocate(bytes), "allocating {} bytes ({} x {})", bytes, count,
                                 dtype_name(dtype));
    }
    device_ = &device;
    capacity_ = bytes;
  }
  dtype_ = dtype;
  count_ = count;
  return Status::success();
}

Status Buffer::zero(Stream* stream) {
  if (bytes() == 0) return Status::success();
  return device_->fill_zero(data_, bytes(), stream);
}

CopyKind copy_kind(llmrt_device from, llmrt_device to) {
  const bool from_host = from.type == LLMRT_DEVICE_CPU, to_host = to.type == LLMRT_DEVICE_CPU;
  if (from_host && to_host) return CopyKind::kHostToHost;
  if (from_host) return CopyKind::kHostToDevice;
  return to_host ? CopyKind::kDeviceToHost : CopyKind::kDeviceToDevice;
}

Status Buffer::copy_from(const Buffer& source, Stream* stream) {
  if (source.bytes() != bytes()) {
    return runtime_error("buffer copy of {} bytes into {} bytes", source.bytes(), bytes());
  }
  if (bytes() == 0) return Status::success();
  // The device that is not the host does the copy (either one for host to host).
  ComputeDevice* runner = on_host() && source.device_ != nullptr ? source.device_ : device_;
  return runner->copy(data_, source.data_, bytes(), copy_kind(source.location(), location()), stream);
}

void Buffer::release() noexcept {
  if (device_ != nullptr && data_ != nullptr) device_->free(data_);
  device_ = nullptr;
  data_ = nullptr;
  count_ = 0;
  capacity_ = 0;
}

void Buffer::take(Buffer& other) noexcept {
  device_ = other.device_;
  data_ = other.data_;
  dtype_ = other.dtype_;
  count_ = other.count_;
  capacity_ = other.capacity_;
  other.device_ = nullptr;
  other.data_ = nullptr;
  other.count_ = 0;
  other.capacity_ = 0;
}

}  // namespace llmrt
