// Owned memory that knows where it lives and what it holds: the executor's parameters,
// gradients, optimizer state, activations and messages are Buffers, so the same code moves
// them on the CPU and on a GPU. Host buffers read as typed spans: a pointer, never a copy.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <span>

#include "device/device.h"
#include "device/dtype.h"
#include "util/status.h"

namespace llmrt {

class Buffer {
 public:
  Buffer() = default;
  // `count` elements of `dtype` on `device` (which must outlive the buffer); contents undefined.
  static Result<Buffer> allocate(ComputeDevice& device, std::int32_t dtype, std::size_t count);
  // The same, zero-filled.
  static Result<Buffer> zeros(ComputeDevice& device, std::int32_t dtype, std::size_t count);
  ~Buffer() { release(); }
  Buffer(Buffer&& other) noexcept { take(other); }
  Buffer& operator=(Buffer&& other) noexcept {
    if (this != &other) {
      release();
      take(other);
    }
    return *this;
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  // Holds `count` elements of `dtype` on `device` from now on. Like vector::resize without
  // the copy: memory is reallocated only when the bytes exceed what the buffer holds, and then
  // the contents are not kept. A recycled buffer of the same size costs nothing.
  Status resize(ComputeDevice& device, std::int32_t dtype, std::size_t count);

  ComputeDevice* device() const { return device_; }
  llmrt_device location() const { return device_ != nullptr ? device_->id() : llmrt_device{LLMRT_DEVICE_CPU, 0}; }
  bool on_host() const { return device_ == nullptr || device_->is_host(); }
  std::int32_t dtype() const { return dtype_; }
  std::size_t count() const { return count_; }
  std::size_t bytes() const { return count_ * dtype_size(dtype_); }
  bool empty() const { return count_ == 0; }
  void* data() { return data_; }
  const void* data() const { return data_; }

  // Typed pointers and spans; T must be the buffer's dtype. Spans need host memory.
  template <class T>
  T* data_as() {
    assert(dtype_of<T>() == dtype_);
    return static_cast<T*>(data_);
  }
  template <class T>
  const T* data_as() const {
    assert(dtype_of<T>() == dtype_);
    return static_cast<const T*>(data_);
  }
  template <class T>
  std::span<T> span() {
    assert(on_host());
    return {data_as<T>(), count_};
  }
  template <class T>
  std::span<const T> span() const {
    assert(on_host());
    return {data_as<T>(), count_};
  }

  Status zero(Stream* stream = nullptr);
  // Copies `source` (same bytes, either device) into this buffer, ordered on `stream`.
  Status copy_from(const Buffer& source, Stream* stream = nullptr);

 private:
  void release() noexcept;
  void take(Buffer& other) noexcept;

  ComputeDevice* device_ = nullptr;
  void* data_ = nullptr;
  std::int32_t dtype_ = LLMRT_DTYPE_F32;
  std::size_t count_ = 0;
  std::size_t capacity_ = 0;  // bytes allocated
};

// The kind of a copy from memory at `from` to memory at `to`.
CopyKind copy_kind(llmrt_device from, llmrt_device to);

}  // namespace llmrt
