// The staging path: device buffers reach MPI through one pinned host buffer per process
// (or directly, when MPI is CUDA-aware). See device_staging.h.
#include "comm/device_staging.h"

#if __has_include(<mpi-ext.h>)
#include <mpi-ext.h>  // Open MPI's extensions: MPIX_Query_cuda_support
#endif

#include <algorithm>
#include <climits>
#include <utility>
#include <vector>

#include <llmrt/plugin.h>

#include "plugin/host_api.h"

namespace llmrt {

Status check_cuda(cudaError_t err, std::string_view what) {
  if (err == cudaSuccess) return Status::success();
  return runtime_error("{}: {}", what, cudaGetErrorString(err));
}

bool mpi_is_cuda_aware() {
#if defined(OMPI_HAVE_MPI_EXT_CUDA) && OMPI_HAVE_MPI_EXT_CUDA
  // Asked at run time: the libmpi loaded may not be the one whose header we compiled against.
  return MPIX_Query_cuda_support() == 1;
#else
  return false;
#endif
}

int cuda_device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // no driver or no device: clear the error, report none
    return 0;
  }
  return count;
}

bool is_device_pointer(const void* pointer) {
  if (pointer == nullptr) return false;
  cudaPointerAttributes attributes{};
  if (cudaPointerGetAttributes(&attributes, pointer) != cudaSuccess) {
    cudaGetLastError();  // a plain host pointer on an old driver, or no driver at all
    return false;
  }
  return attributes.type == cudaMemoryTypeDevice || attributes.type == cudaMemoryTypeManaged;
}

// ---------------------------------------------------------------------------- RAII owners

PinnedBuffer::~PinnedBuffer() { release(); }

PinnedBuffer::PinnedBuffer(PinnedBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), capacity_(std::exchange(other.capacity_, 0)) {}

PinnedBuffer& PinnedBuffer::operator=(PinnedBuffer&& other) noexcept {
  if (this != &other) {
    release();
    data_ = std::exchange(other.data_, nullptr);
    capacity_ = std::exchange(other.capacity_, 0);
  }
  return *this;
}

void PinnedBuffer::release() noexcept {
  if (data_ != nullptr) cudaFreeHost(data_);  // a destructor cannot report a failed free
  data_ = nullptr;
  capacity_ = 0;
}

Status PinnedBuffer::reserve(std::size_t bytes) {
  if (bytes <= capacity_) return Status::success();
  // Grow by at least half again, so a slowly growing bucket does not re-pin on every step.
  const std::size_t want = std::max(bytes, capacity_ + capacity_ / 2);
  release();
  LLMRT_RETURN_IF_ERROR(check_cuda(cudaMallocHost(&data_, want), fmt::format("cudaMallocHost({} bytes)", want)));
  capacity_ = want;
  return Status::success();
}

CudaEvent::~CudaEvent() {
  if (event_ != nullptr) cudaEventDestroy(event_);
}

CudaEvent::CudaEvent(CudaEvent&& other) noexcept : event_(std::exchange(other.event_, nullptr)) {}

CudaEvent& CudaEvent::operator=(CudaEvent&& other) noexcept {
  if (this != &other) {
    if (event_ != nullptr) cudaEventDestroy(event_);
    event_ = std::exchange(other.event_, nullptr);
  }
  return *this;
}

Result<CudaEvent> CudaEvent::create() {
  CudaEvent event;
  LLMRT_RETURN_IF_ERROR(check_cuda(cudaEventCreateWithFlags(&event.event_, cudaEventDisableTiming),
                                   "cudaEventCreateWithFlags"));
  return event;
}

// ---------------------------------------------------------------------------- staging

namespace {

// MPI's type for a reduction of `dtype`; MPI_DATATYPE_NULL where MPI has no arithmetic for it.
MPI_Datatype reducible_type(std::int32_t dtype) {
  switch (dtype) {
    case LLMRT_DTYPE_F32: return MPI_FLOAT;
    case LLMRT_DTYPE_I32: return MPI_INT32_T;
    case LLMRT_DTYPE_I64: return MPI_INT64_T;
    default: return MPI_DATATYPE_NULL;
  }
}

MPI_Op reduce_op(std::int32_t op) { return op == LLMRT_REDUCE_MAX ? MPI_MAX : op == LLMRT_REDUCE_MIN ? MPI_MIN : MPI_SUM; }

}  // namespace

// Bytes of `count` elements, checked against MPI's int counts.
Result<int> mpi_bytes(std::size_t count, std::int32_t dtype, std::string_view what) {
  const std::size_t element = dtype_size(dtype);
  if (element == 0) return runtime_error("{}: unknown dtype {}", what, dtype);
  if (count > static_cast<std::size_t>(INT_MAX) / element) {
    return runtime_error("{}: {} elements of {} exceed MPI's int count; split the bucket", what, count,
                         dtype_name(dtype));
  }
  return static_cast<int>(count * element);
}

Status check_mpi(int rc, std::string_view what) {
  if (rc == MPI_SUCCESS) return Status::success();
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(rc, text, &length);
  return runtime_error("{}: {}", what, std::string_view(text, static_cast<std::size_t>(length)));
}

namespace {

Result<int> comm_rank(MPI_Comm comm) {
  int rank = 0;
  LLMRT_RETURN_IF_ERROR(check_mpi(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank"));
  return rank;
}

Result<int> comm_size(MPI_Comm comm) {
  int size = 0;
  LLMRT_RETURN_IF_ERROR(check_mpi(MPI_Comm_size(comm, &size), "MPI_Comm_size"));
  return size;
}

}  // namespace

Result<PinnedStaging> PinnedStaging::create(bool direct) {
  PinnedStaging staging;
  staging.direct_ = direct;
  LLMRT_ASSIGN_OR_RETURN_CTX(auto event, CudaEvent::create(), "creating the pinned staging path");
  staging.uploaded_ = std::move(event);
  return staging;
}

Result<unsigned char*> PinnedStaging::acquire(std::size_t bytes) {
  // An upload queued by the previous call may still be reading the buffer, maybe on another stream.
  LLMRT_RETURN_IF_ERROR(check_cuda(cudaEventSynchronize(uploaded_.get()), "waiting for the last staged upload"));
  LLMRT_RETURN_IF_ERROR(host_.reserve(bytes));
  return static_cast<unsigned char*>(host_.data());
}

Status PinnedStaging::download(void* host, const void* device, std::size_t bytes, cudaStream_t stream) {
  LLMRT_RETURN_IF_ERROR(
      check_cuda(cudaMemcpyAsync(host, device, bytes, cudaMemcpyDeviceToHost, stream), "staging device→host"));
  return check_cuda(cudaStreamSynchronize(stream), "staging device→host: cudaStreamSynchronize");
}

Status PinnedStaging::upload(void* device, const void* host, std::size_t bytes, cudaStream_t stream) {
  LLMRT_RETURN_IF_ERROR(
      check_cuda(cudaMemcpyAsync(device, host, bytes, cudaMemcpyHostToDevice, stream), "staging host→device"));
  return check_cuda(cudaEventRecord(uploaded_.get(), stream), "staging host→device: cudaEventRecord");
}

Status PinnedStaging::all_reduce_device(MPI_Comm comm, const void* send, void* recv, std::size_t count,
                                        std::int32_t dtype, std::int32_t op, cudaStream_t stream) {
  const MPI_Datatype type = reducible_type(dtype);
  if (type == MPI_DATATYPE_NULL) {
    return runtime_error("all_reduce of {} on the MPI staging path: MPI has no {} arithmetic (use NCCL)",
                         dtype_name(dtype), dtype_name(dtype));
  }
  LLMRT_ASSIGN_OR_RETURN(auto bytes, mpi_bytes(count, dtype, "all_reduce"));
  const int n = static_cast<int>(count);
  if (direct_) {
    LLMRT_RETURN_IF_ERROR(check_cuda(cudaStreamSynchronize(stream), "all_reduce: cudaStreamSynchronize"));
    return check_mpi(MPI_Allreduce(send == recv ? MPI_IN_PLACE : send, recv, n, type, reduce_op(op), comm),
                     "MPI_Allreduce on device memory");
  }
  LLMRT_ASSIGN_OR_RETURN(auto host, acquire(bytes));
  LLMRT_RETURN_IF_ERROR(download(host, send, bytes, stream));
  LLMRT_RETURN_IF_ERROR(check_mpi(MPI_Allreduce(MPI_IN_PLACE, host, n, type, reduce_op(op), comm),
                                  fmt::format("MPI_Allreduce of {} {} (staged)", count, dtype_name(dtype))));
  return upload(recv, host, bytes, stream);
}

Status PinnedStaging::all_gather_device(MPI_Comm comm, const void* send, void* recv, std::size_t send_count,
                                        std::int32_t dtype, cudaStream_t stream) {
  LLMRT_ASSIGN_OR_RETURN(auto block, mpi_bytes(send_count, dtype, "all_gather"));
  LLMRT_ASSIGN_OR_RETURN(auto rank, comm_rank(comm));
  LLMRT_ASSIGN_OR_RETURN(auto size, comm_size(comm));
  if (direct_) {
    LLMRT_RETURN_IF_ERROR(check_cuda(cudaStreamSynchronize(stream), "all_gather: cudaStreamSynchronize"));
    const bool in_place = send == static_cast<const unsigned char*>(recv) + static_cast<std::size_t>(block) * rank;
    return check_mpi(MPI_Allgather(in_place ? MPI_IN_PLACE : send, block, MPI_BYTE, recv, block, MPI_BYTE, comm),
                     "MPI_Allgather on device memory");
  }
  const std::size_t total = static_cast<std::size_t>(block) * static_cast<std::size_t>(size);
  LLMRT_ASSIGN_OR_RETURN(auto host, acquire(total));
  LLMRT_RETURN_IF_ERROR(download(host + static_cast<std::size_t>(block) * rank, send, block, stream));
  LLMRT_RETURN_IF_ERROR(check_mpi(MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, host, block, MPI_BYTE, comm),
                                  "MPI_Allgather (staged)"));
  return upload(recv, host, total, stream);
}

Status PinnedStaging::reduce_scatter_device(MPI_Comm comm, const void* send, void* recv, std::size_t recv_count,
                                            std::int32_t dtype, std::int32_t op, cudaStream_t stream) {
  const MPI_Datatype type = reducible_type(dtype);
  if (type == MPI_DATATYPE_NULL) {
    return runtime_error("reduce_scatter of {} on the MPI staging path: MPI has no {} arithmetic (use NCCL)",
                         dtype_name(dtype), dtype_name(dtype));
  }
  LLMRT_ASSIGN_OR_RETURN(auto size, comm_size(comm));
  LLMRT_ASSIGN_OR_RETURN(auto block, mpi_bytes(recv_count, dtype, "reduce_scatter"));
  LLMRT_ASSIGN_OR_RETURN(auto total, mpi_bytes(recv_count * static_cast<std::size_t>(size), dtype, "reduce_scatter"));
  const int n = static_cast<int>(recv_count);
  if (direct_) {
    LLMRT_RETURN_IF_ERROR(check_cuda(cudaStreamSynchronize(stream), "reduce_scatter: cudaStreamSynchronize"));
    return check_mpi(MPI_Reduce_scatter_block(send, recv, n, type, reduce_op(op), comm),
                     "MPI_Reduce_scatter_block on device memory");
  }
  LLMRT_ASSIGN_OR_RETURN(auto host, acquire(total));
  LLMRT_RETURN_IF_ERROR(download(host, send, total, stream));
  // In place: this rank's reduced block lands at the front of the buffer.
  LLMRT_RETURN_IF_ERROR(check_mpi(MPI_Reduce_scatter_block(MPI_IN_PLACE, host, n, type, reduce_op(op), comm),
                                  "MPI_Reduce_scatter_block (staged)"));
  return upload(recv, host, block, stream);
}

Status PinnedStaging::broadcast_device(MPI_Comm comm, void* buffer, std::size_t count, std::int32_t dtype, int root,
                                       cudaStream_t stream) {
  LLMRT_ASSIGN_OR_RETURN(auto bytes, mpi_bytes(count, dtype, "broadcast"));
  LLMRT_ASSIGN_OR_RETURN(auto rank, comm_rank(comm));
  if (direct_) {
    LLMRT_RETURN_IF_ERROR(check_cuda(cudaStreamSynchronize(stream), "broadcast: cudaStreamSynchronize"));
    return check_mpi(MPI_Bcast(buffer, bytes, MPI_BYTE, root, comm), "MPI_Bcast on device memory");
  }
  LLMRT_ASSIGN_OR_RETURN(auto host, acquire(bytes));
  if (rank == root) LLMRT_RETURN_IF_ERROR(download(host, buffer, bytes, stream));
  LLMRT_RETURN_IF_ERROR(check_mpi(MPI_Bcast(host, bytes, MPI_BYTE, root, comm), "MPI_Bcast (staged)"));
  if (rank == root) return Status::success();
  return upload(buffer, host, bytes, stream);
}

Status PinnedStaging::send_device(MPI_Comm comm, const void* buffer, std::size_t count, std::int32_t dtype, int peer,
                                  int tag, cudaStream_t stream) {
  DeviceP2p op{DeviceP2p::Kind::kSend, peer, const_cast<void*>(buffer), count, dtype};
  return exchange_device(comm, std::span<const DeviceP2p>(&op, 1), tag, stream);
}

Status PinnedStaging::recv_device(MPI_Comm comm, void* buffer, std::size_t count, std::int32_t dtype, int peer,
                                  int tag, cudaStream_t stream) {
  DeviceP2p op{DeviceP2p::Kind::kRecv, peer, buffer, count, dtype};
  return exchange_device(comm, std::span<const DeviceP2p>(&op, 1), tag, stream);
}

Status PinnedStaging::exchange_device(MPI_Comm comm, std::span<const DeviceP2p> ops, int tag, cudaStream_t stream) {
  // Every op gets its own region of the pinned buffer: all of them are in flight at once.
  std::vector<std::size_t> offsets(ops.size());
  std::vector<int> sizes(ops.size());
  std::size_t total = 0;
  for (std::size_t i = 0; i < ops.size(); i++) {
    LLMRT_ASSIGN_OR_RETURN(auto bytes,
                           mpi_bytes(ops[i].count, ops[i].dtype, fmt::format("p2p with peer {}", ops[i].peer)));
    sizes[i] = bytes;
    offsets[i] = total;
    total += (static_cast<std::size_t>(bytes) + 255) / 256 * 256;
  }
  unsigned char* host = nullptr;
  if (direct_) {
    LLMRT_RETURN_IF_ERROR(check_cuda(cudaStreamSynchronize(stream), "p2p: cudaStreamSynchronize"));
  } else {
    LLMRT_ASSIGN_OR_RETURN(auto acquired, acquire(total));
    host = acquired;
    for (std::size_t i = 0; i < ops.size(); i++) {
      if (ops[i].kind != DeviceP2p::Kind::kSend) continue;
      LLMRT_RETURN_IF_ERROR(check_cuda(
          cudaMemcpyAsync(host + offsets[i], ops[i].buffer, sizes[i], cudaMemcpyDeviceToHost, stream),
          fmt::format("staging a send to peer {}", ops[i].peer)));
    }
    LLMRT_RETURN_IF_ERROR(check_cuda(cudaStreamSynchronize(stream), "p2p staging: cudaStreamSynchronize"));
  }
  std::vector<MPI_Request> requests(ops.size(), MPI_REQUEST_NULL);
  for (std::size_t i = 0; i < ops.size(); i++) {
    void* where = direct_ ? ops[i].buffer : host + offsets[i];
    const int rc = ops[i].kind == DeviceP2p::Kind::kSend
                       ? MPI_Isend(where, sizes[i], MPI_BYTE, ops[i].peer, tag, comm, &requests[i])
                       : MPI_Irecv(where, sizes[i], MPI_BYTE, ops[i].peer, tag, comm, &requests[i]);
    LLMRT_RETURN_IF_ERROR(check_mpi(rc, fmt::format("posting p2p with peer {}", ops[i].peer)));
  }
  LLMRT_RETURN_IF_ERROR(check_mpi(MPI_Waitall(static_cast<int>(requests.size()), requests.data(), MPI_STATUSES_IGNORE),
                                  "MPI_Waitall on staged p2p"));
  if (direct_) return Status::success();
  for (std::size_t i = 0; i < ops.size(); i++) {
    if (ops[i].kind != DeviceP2p::Kind::kRecv) continue;
    LLMRT_RETURN_IF_ERROR(check_cuda(
        cudaMemcpyAsync(ops[i].buffer, host + offsets[i], sizes[i], cudaMemcpyHostToDevice, stream),
        fmt::format("unstaging a receive from peer {}", ops[i].peer)));
  }
  return check_cuda(cudaEventRecord(uploaded_.get(), stream), "p2p unstaging: cudaEventRecord");
}

}  // namespace llmrt
