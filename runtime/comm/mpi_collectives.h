// Collectives on host memory over one MPI communicator: the CPU backend of a process group,
// and the host side of a GPU group (scalars such as the loss stay in host memory there too).
#pragma once

#include <mpi.h>

#include "device/collectives.h"

namespace llmrt {

// MPI_Datatype of a dtype; MPI_DATATYPE_NULL for bf16/f16 (no MPI arithmetic on them).
MPI_Datatype mpi_datatype(std::int32_t dtype);
MPI_Op mpi_reduce_op(std::int32_t op);

// An MPI_Request as a CommRequest.
class MpiRequest final : public CommRequest {
 public:
  MpiRequest() = default;
  MPI_Request& get() { return request_; }
  Result<bool> test() override;
  Status wait() override;

 private:
  MPI_Request request_ = MPI_REQUEST_NULL;
};

class MpiCollectives final : public Collectives {
 public:
  // `comm` is borrowed (ProcessGroups owns it) and must outlive this object.
  explicit MpiCollectives(MPI_Comm comm);
  MPI_Comm comm() const { return comm_; }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  Status all_reduce(const void* send, void* recv, std::size_t count, std::int32_t dtype, std::int32_t op,
                    llmrt_stream* stream) override;
  Status all_gather(const void* send, void* recv, std::size_t send_count, std::int32_t dtype,
                    llmrt_stream* stream) override;
  Status reduce_scatter(const void* send, void* recv, std::size_t recv_count, std::int32_t dtype, std::int32_t op,
                        llmrt_stream* stream) override;
  Status broadcast(void* buffer, std::size_t count, std::int32_t dtype, int root, llmrt_stream* stream) override;
  Result<RequestPtr> start_all_reduce(void* buffer, std::size_t count, std::int32_t dtype, std::int32_t op,
                                      llmrt_stream* stream) override;
  Result<RequestPtr> start_reduce_scatter(const void* send, void* recv, std::size_t recv_count, std::int32_t dtype,
                                          std::int32_t op, llmrt_stream* stream) override;
  Result<RequestPtr> start_all_gather(const void* send, void* recv, std::size_t send_count, std::int32_t dtype,
                                      llmrt_stream* stream) override;
  Result<RequestPtr> start_send(const void* buffer, std::size_t count, std::int32_t dtype, int peer, int tag,
                                llmrt_stream* stream) override;
  Result<RequestPtr> start_recv(void* buffer, std::size_t count, std::int32_t dtype, int peer, int tag,
                                llmrt_stream* stream) override;
  using Collectives::start_all_reduce;
  using Collectives::start_recv;
  using Collectives::start_send;

 private:
  MPI_Comm comm_;
  int rank_ = 0, size_ = 1;
};

}  // namespace llmrt
