// CudaDevice: the CUDA runtime behind the ComputeDevice interface. Plain C++ (no nvcc): kernels the
// executor needs on the GPU (the norm's reduction, the clip's scale) come from kernels/cuda
// when the GPU issue wires them; until then those two go through host memory.
#include "device/cuda_device.h"
#include "device/dtype.h"

#include <cuda_runtime.h>

#include <map>
#include <mutex>
#include <vector>

namespace llmrt {
namespace {

Status check(cudaError_t err, std::string_view what) {
  if (err == cudaSuccess) return Status::success();
  return runtime_error("{}: {}", what, cudaGetErrorString(err));
}

class CudaStream final : public Stream {
 public:
  explicit CudaStream(cudaStream_t stream) : stream_(stream) {}
  ~CudaStream() override {
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }
  llmrt_stream* plugin_handle() const override { return reinterpret_cast<llmrt_stream*>(stream_); }
  cudaStream_t get() const { return stream_; }

 private:
  cudaStream_t stream_ = nullptr;
};

class CudaEventHandle final : public Event {
 public:
  explicit CudaEventHandle(cudaEvent_t event) : event_(event) {}
  ~CudaEventHandle() override {
    if (event_ != nullptr) cudaEventDestroy(event_);
  }
  cudaEvent_t get() const { return event_; }

 private:
  cudaEvent_t event_ = nullptr;
};

cudaStream_t native(Stream* stream) {
  return stream == nullptr ? nullptr : static_cast<CudaStream*>(stream)->get();
}

cudaMemcpyKind native(CopyKind kind) {
  switch (kind) {
    case CopyKind::kHostToDevice: return cudaMemcpyHostToDevice;
    case CopyKind::kDeviceToHost: return cudaMemcpyDeviceToHost;
    case CopyKind::kDeviceToDevice: return cudaMemcpyDeviceToDevice;
    case CopyKind::kHostToHost: return cudaMemcpyHostToHost;
  }
  return cudaMemcpyDefault;
}

class CudaDevice final : public ComputeDevice {
 public:
  explicit CudaDevice(int index) : index_(index) {}
  llmrt_device id() const override { return llmrt_device{LLMRT_DEVICE_CUDA, index_}; }

  Result<void*> allocate(std::size_t bytes) override {
    void* pointer = nullptr;
    LLMRT_RETURN_IF_ERROR(check(cudaSetDevice(index_), "cudaSetDevice"));
    LLMRT_RETURN_IF_ERROR(check(cudaMalloc(&pointer, bytes == 0 ? 1 : bytes), "cudaMalloc"));
    return pointer;
  }
  void free(void* pointer) noexcept override {
    if (pointer != nullptr) cudaFree(pointer);
  }
  Status copy(void* dst, const void* src, std::size_t bytes, CopyKind kind, Stream* stream) override {
    return check(cudaMemcpyAsync(dst, src, bytes, native(kind), native(stream)), "cudaMemcpyAsync");
  }
  Status fill_zero(void* dst, std::size_t bytes, Stream* stream) override {
    return check(cudaMemsetAsync(dst, 0, bytes, native(stream)), "cudaMemsetAsync");
  }
  Result<std::unique_ptr<Stream>> create_stream() override {
    cudaStream_t stream = nullptr;
    LLMRT_RETURN_IF_ERROR(check(cudaSetDevice(index_), "cudaSetDevice"));
    LLMRT_RETURN_IF_ERROR(check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate"));
    return std::unique_ptr<Stream>(new CudaStream(stream));
  }
  Status synchronize(Stream* stream) override {
    return check(cudaStreamSynchronize(native(stream)), "cudaStreamSynchronize");
  }
  Result<std::unique_ptr<Event>> create_event() override {
    cudaEvent_t event = nullptr;
    LLMRT_RETURN_IF_ERROR(check(cudaEventCreateWithFlags(&event, cudaEventDisableTiming), "cudaEventCreate"));
    return std::unique_ptr<Event>(new CudaEventHandle(event));
  }
  Status record(Event& event, Stream* stream) override {
    return check(cudaEventRecord(static_cast<CudaEventHandle&>(event).get(), native(stream)), "cudaEventRecord");
  }
  Status wait(Stream* stream, const Event& event) override {
    return check(cudaStreamWaitEvent(native(stream), static_cast<const CudaEventHandle&>(event).get(), 0),
                 "cudaStreamWaitEvent");
  }
  Result<bool> query(const Event& event) override {
    const cudaError_t err = cudaEventQuery(static_cast<const CudaEventHandle&>(event).get());
    if (err == cudaErrorNotReady) return false;
    LLMRT_RETURN_IF_ERROR(check(err, "cudaEventQuery"));
    return true;
  }
  // Through host memory until kernels/cuda provides the reduction (the GPU issue).
  Result<double> sum_of_squares(const float* data, std::size_t count, Stream* stream) override {
    std::vector<float> host(count);
    LLMRT_RETURN_IF_ERROR(copy(host.data(), data, count * sizeof(float), CopyKind::kDeviceToHost, stream));
    LLMRT_RETURN_IF_ERROR(synchronize(stream));
    double sum = 0;
    for (float value : host) sum += static_cast<double>(value) * value;
    return sum;
  }
  Status scale(float* data, std::size_t count, float factor, Stream* stream) override {
    std::vector<float> host(count);
    LLMRT_RETURN_IF_ERROR(copy(host.data(), data, count * sizeof(float), CopyKind::kDeviceToHost, stream));
    LLMRT_RETURN_IF_ERROR(synchronize(stream));
    for (float& value : host) value *= factor;
    LLMRT_RETURN_IF_ERROR(copy(data, host.data(), count * sizeof(float), CopyKind::kHostToDevice, stream));
    return synchronize(stream);
  }
  // Through host memory as well, until kernels/cuda's conversions are wired here (the GPU issue).
  Status convert(void* dst, std::int32_t dst_dtype, const void* src, std::int32_t src_dtype, std::size_t count,
                 Stream* stream) override {
    std::vector<unsigned char> in(count * dtype_size(src_dtype)), out(count * dtype_size(dst_dtype));
    LLMRT_RETURN_IF_ERROR(copy(in.data(), src, in.size(), CopyKind::kDeviceToHost, stream));
    LLMRT_RETURN_IF_ERROR(synchronize(stream));
    LLMRT_RETURN_IF_ERROR(convert_on_host(out.data(), dst_dtype, in.data(), src_dtype, count));
    LLMRT_RETURN_IF_ERROR(copy(dst, out.data(), out.size(), CopyKind::kHostToDevice, stream));
    return synchronize(stream);
  }

 private:
  int index_ = 0;
};

}  // namespace

ComputeDevice* cuda_device(int index) {
  static std::mutex mutex;
  static std::map<int, std::unique_ptr<CudaDevice>> devices;
  std::lock_guard lock(mutex);
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || index < 0 || index >= count) return nullptr;
  auto& device = devices[index];
  if (!device) device = std::make_unique<CudaDevice>(index);
  return device.get();
}

Status synchronize_cuda_stream(llmrt_stream* stream) {
  return check(cudaStreamSynchronize(reinterpret_cast<cudaStream_t>(stream)), "cudaStreamSynchronize");
}

}  // namespace llmrt
