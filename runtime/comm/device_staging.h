// MPI on device buffers when MPI cannot read GPU memory (several ranks sharing one GPU, or an
// Open MPI built without CUDA): copy to pinned host memory, run the MPI call there, copy back.
#pragma once

#include <cuda_runtime.h>
#include <mpi.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "util/status.h"

namespace llmrt {

// Success, or an Error "<what>: <CUDA's text>" for a failed CUDA runtime call.
Status check_cuda(cudaError_t err, std::string_view what);

// Bytes of `count` elements of `dtype`, checked against MPI's int counts (an error names `what`).
Result<int> mpi_bytes(std::size_t count, std::int32_t dtype, std::string_view what);
// Success, or an Error "<what>: <MPI's text>".
Status check_mpi(int rc, std::string_view what);

// True when this process's MPI library can take CUDA pointers (Open MPI's MPIX_Query_cuda_support
// where mpi-ext.h declares it; false for any other MPI).
bool mpi_is_cuda_aware();

// Number of CUDA devices this process sees; 0, never an error, without a driver or a device.
int cuda_device_count();

// True when `pointer` is device (or managed) memory; false for host memory, pinned or not, and
// on a machine without a usable driver.
bool is_device_pointer(const void* pointer);

// One point-to-point transfer of a batch (pipeline activations and their gradients).
// buffer: `count` elements of `dtype` on the device; `peer` is a rank of the group.
struct DeviceP2p {
  enum class Kind { kSend, kRecv };
  Kind kind = Kind::kSend;
  int peer = 0;
  void* buffer = nullptr;
  std::size_t count = 0;
  std::int32_t dtype = 0;  // llmrt_dtype
};

// An owned cudaMallocHost allocation that grows on demand and never shrinks. Move-only.
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  ~PinnedBuffer();
  PinnedBuffer(PinnedBuffer&& other) noexcept;
  PinnedBuffer& operator=(PinnedBuffer&& other) noexcept;
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;

  // At least `bytes` of pinned memory; the old contents are not kept.
  Status reserve(std::size_t bytes);
  void* data() const { return data_; }
  std::size_t capacity() const { return capacity_; }

 private:
  void release() noexcept;
  void* data_ = nullptr;
  std::size_t capacity_ = 0;
};

// An owned cudaEvent_t (timing disabled: only ordering). Move-only.
class CudaEvent {
 public:
  CudaEvent() = default;
  ~CudaEvent();
  CudaEvent(CudaEvent&& other) noexcept;
  CudaEvent& operator=(CudaEvent&& other) noexcept;
  CudaEvent(const CudaEvent&) = delete;
  CudaEvent& operator=(const CudaEvent&) = delete;

  static Result<CudaEvent> create();
  cudaEvent_t get() const { return event_; }

 private:
  cudaEvent_t event_ = nullptr;
};

// The staging path of one process. Every call is collective (or paired, for p2p) over `comm`
// like the MPI call it wraps, returns when the host side is done, and leaves the copy back to
// the device ordered on `stream`. Not thread-safe: one per process, used by the thread that
// runs the training step. With `direct` (CUDA-aware MPI) it skips the copies and hands MPI
// the device pointers after synchronizing `stream`.
class PinnedStaging {
 public:
  static Result<PinnedStaging> create(bool direct = false);

  bool direct() const { return direct_; }

  // send, recv: `count` elements on the device (may alias). Reductions: f32, i32, i64 (MPI has
  // no bf16/f16 arithmetic; those go through NCCL). op: llmrt_reduce_op.
  Status all_reduce_device(MPI_Comm comm, const void* send, void* recv, std::size_t count, std::int32_t dtype,
                           std::int32_t op, cudaStream_t stream);
  Status all_reduce_device(MPI_Comm comm, void* buffer, std::size_t count, std::int32_t dtype, std::int32_t op,
                           cudaStream_t stream) {
    return all_reduce_device(comm, buffer, buffer, count, dtype, op, stream);
  }
  // send: send_count elements; recv: send_count * size elements, rank r's block at r * send_count.
  Status all_gather_device(MPI_Comm comm, const void* send, void* recv, std::size_t send_count, std::int32_t dtype,
                           cudaStream_t stream);
  // send: recv_count * size elements; recv: this rank's reduced block of recv_count.
  Status reduce_scatter_device(MPI_Comm comm, const void* send, void* recv, std::size_t recv_count,
                               std::int32_t dtype, std::int32_t op, cudaStream_t stream);
  Status broadcast_device(MPI_Comm comm, void* buffer, std::size_t count, std::int32_t dtype, int root,
                          cudaStream_t stream);
  // Activations between pipeline stages: blocking send and receive of one device buffer.
  Status send_device(MPI_Comm comm, const void* buffer, std::size_t count, std::int32_t dtype, int peer, int tag,
                     cudaStream_t stream);
  Status recv_device(MPI_Comm comm, void* buffer, std::size_t count, std::int32_t dtype, int peer, int tag,
                     cudaStream_t stream);
  // All of `ops` posted together (MPI_Isend/MPI_Irecv, one MPI_Waitall), so a stage that sends
  // to its successor and receives from it in the same step cannot deadlock.
  Status exchange_device(MPI_Comm comm, std::span<const DeviceP2p> ops, int tag, cudaStream_t stream);

 private:
  PinnedStaging() = default;
  // Waits until the last upload out of the pinned buffer has finished, then grows it.
  Result<unsigned char*> acquire(std::size_t bytes);
  Status download(void* host, const void* device, std::size_t bytes, cudaStream_t stream);
  Status upload(void* device, const void* host, std::size_t bytes, cudaStream_t stream);

  bool direct_ = false;
  PinnedBuffer host_;
  CudaEvent uploaded_;  // recorded after each copy out of host_, so the next call cannot overwrite it early
};

}  // namespace llmrt
