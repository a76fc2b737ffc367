// A process group's collectives on a GPU rank: device memory over the group's DeviceComm
// (NCCL, or MPI through pinned host buffers), host memory (scalars such as the loss) over MPI.
// Built with NCCL only; ProcessGroups makes one per group when the rank's device is a GPU.
#pragma once

#include <mpi.h>

#include "comm/mpi_collectives.h"
#include "comm/nccl_backend.h"

namespace llmrt {

class DeviceMemoryCollectives final : public Collectives {
 public:
  // `comm` and `device` are borrowed and must outlive this object.
  DeviceMemoryCollectives(MPI_Comm comm, DeviceComm& device) : host_(comm), device_(device) {}
  int rank() const override { return host_.rank(); }
  int size() const override { return host_.size(); }
  Status all_reduce(const void* send, void* recv, std::size_t count, std::int32_t dtype, std::int32_t op,
                    llmrt_stream* stream) override;
  Status all_gather(const void* send, void* recv, std::size_t send_count, std::int32_t dtype,
                    llmrt_stream* stream) override;
  Status reduce_scatter(const void* send, void* recv, std::size_t recv_count, std::int32_t dtype, std::int32_t op,
                        llmrt_stream* stream) override;
  Status broadcast(void* buffer, std::size_t count, std::int32_t dtype, int root, llmrt_stream* stream) override;
  // On device memory the all-reduce is enqueued on `stream` and comes back complete (a null
  // request): the stream, not the host, orders what follows. Sends and receives are
  // non-blocking MPI requests matched by tag (comm/staged_p2p.h), so receives posted ahead
  // cannot deadlock a schedule.
  Result<RequestPtr> start_all_reduce(void* buffer, std::size_t count, std::int32_t dtype, std::int32_t op,
                                      llmrt_stream* stream) override;
  // Device memory: enqueued on `stream` like the all-reduce (a null request).
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
  std::string p2p_path() const override { return device_.describe_p2p(); }
  void match_p2p_by_tag(std::string why) override { device_.match_p2p_by_tag(std::move(why)); }

 private:
  MpiCollectives host_;
  DeviceComm& device_;
};

}  // namespace llmrt
