// CudaDevice: the CUDA runtime behind the ComputeDevice interface. Plain C++ (no nvcc): the
// optimizer step's reductions (the global norm's sum of squares, the clip's scale) and the
// mixed-precision conversions are kernels/cuda's, the loss's in-order sum is
// cuda_sum_in_order.cu's, all queued on the given stream; only sum_of_squares' one double
// comes back to the host here (accumulate_sum_of_squares leaves it on the device).
#include "device/cuda_device.h"
#include "device/capture_region.h"
#include "device/cuda_sum_in_order.h"
#include "device/dtype.h"

#include <cuda_runtime.h>

#include <cstdio>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "cuda/kernels_cuda.h"
#include "util/stream_retirement.h"

namespace llmrt {
namespace {

Status check(cudaError_t err, std::string_view what) {
  if (err == cudaSuccess) return Status::success();
  return runtime_error("{}: {}", what, cudaGetErrorString(err));
}

class CudaStream final : public Stream {
 public:
  explicit CudaStream(cudaStream_t stream) : stream_(stream) {}
  // What others keep for this handle (the op table's cuBLASLt context) goes with it, before the
  // driver may hand the handle out again. Only when the stream's work is done: the owners free
  // with cudaFree, and a stream still busy at destruction is a failed run's (a peer gone, its
  // NCCL receive never completing), whose exit must not wait for the device; its contexts then
  // stay, unreachable (they are keyed by the stream's unique id too), until the process ends.
  ~CudaStream() override {
    if (stream_ == nullptr) return;
    if (cudaStreamQuery(stream_) == cudaSuccess) stream_retired(stream_);
    cudaStreamDestroy(stream_);
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

// An instantiated graph of one capture; replayed on any stream of its device.
class CudaGraph final : public DeviceGraph {
 public:
  explicit CudaGraph(cudaGraphExec_t exec) : exec_(exec) {}
  ~CudaGraph() override {
    if (exec_ != nullptr) cudaGraphExecDestroy(exec_);  // nothing to report to from a destructor
  }
  Status launch(Stream* stream) override;

 private:
  cudaGraphExec_t exec_ = nullptr;
};

namespace cu = llmrt::kernels::cuda;

// Runs kernels/cuda calls, whose failures are CudaErrors (code, name, text, call site), as a Status.
template <typename Body>
Status kernel_status(std::string_view what, Body&& body) {
  try {
    body();
    return Status::success();
  } catch (const cu::CudaError& error) {
    return runtime_error("{}: {}", what, error.what());
  }
}

cudaStream_t native(Stream* stream) {
  return stream == nullptr ? nullptr : static_cast<CudaStream*>(stream)->get();
}

Status CudaGraph::launch(Stream* stream) {
  return check(cudaGraphLaunch(exec_, native(stream)), "cudaGraphLaunch");
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
  ~CudaDevice() override {
    for (const auto& [stream, scratch] : scratch_) cudaFree(scratch);
  }
  llmrt_device id() const override { return llmrt_device{LLMRT_DEVICE_CUDA, index_}; }

  Result<void*> allocate(std::size_t bytes) override {
    LLMRT_RETURN_IF_ERROR(CaptureRegion::refuse(fmt::format("allocate ({} bytes, cudaMalloc)", bytes)));
    void* pointer = nullptr;
    LLMRT_RETURN_IF_ERROR(check(cudaSetDevice(index_), "cudaSetDevice"));
    const cudaError_t err = cudaMalloc(&pointer, bytes == 0 ? 1 : bytes);
    if (err != cudaSuccess) {
      // Deferred blocks are not released here: that would wait for the device mid-step.
      const DeviceMemoryCounts held = ledger_.counts();
      return runtime_error("cudaMalloc of {} bytes on GPU {}: {} ({:.1f} MiB held, of which {:.1f} MiB freed and "
                           "waiting for the step's end)",
                           bytes, index_, cudaGetErrorString(err), held.held_bytes / 1048576.0,
                           held.pending_bytes / 1048576.0);
    }
    ledger_.allocated(pointer, bytes);
    return pointer;
  }
  // Deferred, not cudaFree (which waits for the whole device: a deadlock against a peer's NCCL
  // receive mid-step, deferred_frees.h). Why not cudaFreeAsync: a Buffer does not know which
  // streams used it (the compute stream, a pipeline link's, the default order's buckets), so no
  // one stream's order makes the free safe; the step's end is safe for every stream at once.
  void free(void* pointer) noexcept override {
    if (pointer == nullptr) return;
    CaptureRegion::note("free (deferred cudaFree)");
    count_free();
    if (!ledger_.defer(pointer)) {
      // Not ours (or freed twice): giving it to cudaFree would be the bug the ledger prevents.
      std::fprintf(stderr, "llmrt: GPU %d: free of %p, which this device does not hold (ignored)\n", index_,
                   pointer);
    }
  }
  Result<void*> allocate_host(std::size_t bytes) override {
    void* pointer = nullptr;
    LLMRT_RETURN_IF_ERROR(check(cudaSetDevice(index_), "cudaSetDevice"));
    LLMRT_RETURN_IF_ERROR(
        check(cudaHostAlloc(&pointer, bytes == 0 ? 1 : bytes, cudaHostAllocDefault), "cudaHostAlloc"));
    return pointer;
  }
  void free_host(void* pointer) noexcept override {
    if (pointer != nullptr) cudaFreeHost(pointer);  // nothing to report to from a destructor
  }
  // Thread-local mode: only this thread's unsafe calls (cudaMalloc, a synchronisation, legacy
  // stream work) break the capture, so another thread's work cannot. The legacy default stream
  // cannot be captured at all.
  Status begin_capture(Stream* stream) override {
    if (stream == nullptr) return runtime_error("begin_capture: the legacy default stream cannot be captured");
    LLMRT_RETURN_IF_ERROR(check(cudaSetDevice(index_), "cudaSetDevice"));
    return check(cudaStreamBeginCapture(native(stream), cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
  }
  // Ends the capture whatever happened inside it (an invalidated capture ends with an error and
  // no graph), then instantiates; the graph itself is not needed once instantiated.
  Result<std::unique_ptr<DeviceGraph>> end_capture(Stream* stream) override {
    if (stream == nullptr) return runtime_error("end_capture: the legacy default stream cannot be captured");
    cudaGraph_t graph = nullptr;
    const cudaError_t ended = cudaStreamEndCapture(native(stream), &graph);
    if (ended != cudaSuccess) {
      if (graph != nullptr) cudaGraphDestroy(graph);
      return Error(check(ended, "cudaStreamEndCapture").error());
    }
    cudaGraphExec_t exec = nullptr;
    const cudaError_t made = cudaGraphInstantiate(&exec, graph, 0);
    cudaGraphDestroy(graph);
    if (made != cudaSuccess) {
      if (exec != nullptr) cudaGraphExecDestroy(exec);
      return Error(check(made, "cudaGraphInstantiate").error());
    }
    return std::unique_ptr<DeviceGraph>(new CudaGraph(exec));
  }
  Status release_deferred_frees() override {
    const std::vector<void*> pending = ledger_.take_pending();
    if (pending.empty()) return Status::success();
    LLMRT_RETURN_IF_ERROR(check(cudaSetDevice(index_), "cudaSetDevice"));
    Status first = Status::success();
    for (void* pointer : pending) {
      const Status freed = check(cudaFree(pointer), "cudaFree (a deferred free)");
      if (first.ok() && !freed.ok()) first = freed;
    }
    ledger_.released(pending.size());
    return first;
  }
  DeviceMemoryCounts memory_counts() const override { return ledger_.counts(); }
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
    LLMRT_RETURN_IF_ERROR(CaptureRegion::refuse("synchronize (cudaStreamSynchronize)"));
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
  // data: (count) f32 on this device. fp64 accumulation in a fixed order (two kernels), then the
  // host waits for the one double.
  Result<double> sum_of_squares(const float* data, std::size_t count, Stream* stream) override {
    LLMRT_RETURN_IF_ERROR(CaptureRegion::refuse("sum_of_squares (a value read back to the host)"));
    double* scratch = nullptr;
    LLMRT_ASSIGN_OR_RETURN(scratch, scratch_for(native(stream)));
    double sum = 0;
    LLMRT_RETURN_IF_ERROR(kernel_status("sum_of_squares", [&] {
      cu::sum_of_squares(scratch + cu::kSumOfSquaresBlocks, data, count, scratch, native(stream));
    }));
    LLMRT_RETURN_IF_ERROR(copy(&sum, scratch + cu::kSumOfSquaresBlocks, sizeof(double), CopyKind::kDeviceToHost,
                               stream));
    LLMRT_RETURN_IF_ERROR(synchronize(stream));
    return sum;
  }
  // total: (1) f64 on this device += the same sum; queued, nothing waits.
  Status accumulate_sum_of_squares(double* total, const float* data, std::size_t count, Stream* stream) override {
    double* scratch = nullptr;
    LLMRT_ASSIGN_OR_RETURN(scratch, scratch_for(native(stream)));
    return kernel_status("accumulate_sum_of_squares",
                         [&] { cu::accumulate_sum_of_squares(total, data, count, scratch, native(stream)); });
  }
  Status scale(float* data, std::size_t count, float factor, Stream* stream) override {
    return kernel_status("scale", [&] { cu::scale(data, count, factor, native(stream)); });
  }
  // total: (1) f64, values: (count) f32, both on this device; nothing waits (the host reads
  // *total later, once per step).
  Status sum_in_order(double* total, const float* values, std::size_t count, Stream* stream) override {
    return check(launch_sum_in_order(total, values, count, native(stream)), "sum_in_order (kernel launch)");
  }
  // f32, bf16 and f16 either way, round to nearest-even as llmrt/half.hpp does on the host.
  Status convert(void* dst, std::int32_t dst_dtype, const void* src, std::int32_t src_dtype, std::size_t count,
                 Stream* stream) override {
    if (dtype_size(src_dtype) == 0 || dtype_size(dst_dtype) == 0) {
      return input_error("convert: unknown dtype {} or {}", src_dtype, dst_dtype);
    }
    if (src_dtype == dst_dtype) {
      return copy(dst, src, count * dtype_size(src_dtype), CopyKind::kDeviceToDevice, stream);
    }
    const cudaStream_t s = native(stream);
    const auto pair = std::pair(src_dtype, dst_dtype);
    return kernel_status("convert", [&] {
      if (pair == std::pair<std::int32_t, std::int32_t>(LLMRT_DTYPE_F32, LLMRT_DTYPE_BF16)) {
        cu::float_to_bf16(static_cast<cu::bf16*>(dst), static_cast<const float*>(src), count, s);
      } else if (pair == std::pair<std::int32_t, std::int32_t>(LLMRT_DTYPE_BF16, LLMRT_DTYPE_F32)) {
        cu::bf16_to_float(static_cast<float*>(dst), static_cast<const cu::bf16*>(src), count, s);
      } else if (pair == std::pair<std::int32_t, std::int32_t>(LLMRT_DTYPE_F32, LLMRT_DTYPE_F16)) {
        cu::float_to_f16(static_cast<cu::f16*>(dst), static_cast<const float*>(src), count, s);
      } else if (pair == std::pair<std::int32_t, std::int32_t>(LLMRT_DTYPE_F16, LLMRT_DTYPE_F32)) {
        cu::f16_to_float(static_cast<float*>(dst), static_cast<const cu::f16*>(src), count, s);
      } else if (pair == std::pair<std::int32_t, std::int32_t>(LLMRT_DTYPE_BF16, LLMRT_DTYPE_F16)) {
        cu::bf16_to_f16(static_cast<cu::f16*>(dst), static_cast<const cu::bf16*>(src), count, s);
      } else if (pair == std::pair<std::int32_t, std::int32_t>(LLMRT_DTYPE_F16, LLMRT_DTYPE_BF16)) {
        cu::f16_to_bf16(static_cast<cu::bf16*>(dst), static_cast<const cu::f16*>(src), count, s);
      } else {
        throw cu::CudaError("no conversion from dtype " + std::to_string(src_dtype) + " to " +
                            std::to_string(dst_dtype) + " (f32, bf16 and f16 only)");
      }
    });
  }

 private:
  // The reductions' scratch of `stream`, allocated on its first use. One per stream: queued
  // reductions on two streams never share partial sums, and a stream's own are ordered by it.
  Result<double*> scratch_for(cudaStream_t stream) {
    std::lock_guard lock(mutex_);
    double*& scratch = scratch_[stream];
    if (scratch == nullptr) {
      void* memory = nullptr;
      LLMRT_RETURN_IF_ERROR(check(cudaSetDevice(index_), "cudaSetDevice"));
      LLMRT_RETURN_IF_ERROR(check(cudaMalloc(&memory, (cu::kSumOfSquaresBlocks + 1) * sizeof(double)),
                                  "cudaMalloc (sum_of_squares scratch)"));
      scratch = static_cast<double*>(memory);
    }
    return scratch;
  }

  int index_ = 0;
  DeferredFrees ledger_;  // every block allocate() made, and those free() deferred
  std::mutex mutex_;  // guards scratch_
  // Per stream (kSumOfSquaresBlocks + 1) f64: the partial sums, then sum_of_squares' total.
  std::map<cudaStream_t, double*> scratch_;
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

Status copy_on_cuda_stream(void* dst, const void* src, std::size_t bytes, llmrt_stream* stream) {
  return check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, reinterpret_cast<cudaStream_t>(stream)),
               "cudaMemcpyAsync (device to device)");
}

Status synchronize_cuda_stream(llmrt_stream* stream) {
  return check(cudaStreamSynchronize(reinterpret_cast<cudaStream_t>(stream)), "cudaStreamSynchronize");
}

}  // namespace llmrt
