// Pipeline sends and receives over NCCL: one communicator per directed link between
// neighbouring pipeline ranks (a → b: the sender is rank 0 of it, the receiver rank 1), each
// with its own non-blocking CUDA stream on both ends. NCCL matches a link's messages by order
// only, and ncclRecv holds its stream until the bytes arrive; with a stream per directed link a
// receive posted ahead holds nothing but later receives on the same link, never a send or the
// compute. So the executor's posted-ahead receives are safe exactly when each link's sends and
// receives are in the same order on both ends, which link_order_mismatch (schedule/link_order.h)
// proves before step 0; a schedule that fails it keeps the tag-matched MPI path.
// Ordering: a transfer starts after the work queued on the caller's stream (an event), and its
// request ends with an event the caller's stream can wait on without the host
// (CommRequest::order_before). Built with CUDA and NCCL only.
#pragma once

#include <cuda_runtime.h>
#include <mpi.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "comm/nccl_backend.h"
#include "device/collectives.h"
#include "schedule/link_order.h"
#include "util/status.h"

namespace llmrt {

class PipelineLinks {
 public:
  // Collective over `pipeline` (the pipeline group's MPI communicator), every member owning
  // its GPU and able to load NCCL (DeviceComm chose NCCL for the group): one MPI split and one
  // NCCL communicator per link, in pipeline_link_pairs order on every member.
  static Result<std::unique_ptr<PipelineLinks>> create(MPI_Comm pipeline, int cuda_device);
  ~PipelineLinks();
  PipelineLinks(const PipelineLinks&) = delete;
  PipelineLinks& operator=(const PipelineLinks&) = delete;

  std::size_t link_count() const { return links_.size(); }  // the links this rank is on
  // buffer: `count` elements of dtype on the device. Starts after the work queued on `after`;
  // the request completes (and a stream may wait for it) when NCCL is done with the buffer.
  Result<RequestPtr> start_send(const void* buffer, std::size_t count, std::int32_t dtype, int peer,
                                cudaStream_t after);
  Result<RequestPtr> start_recv(void* buffer, std::size_t count, std::int32_t dtype, int peer, cudaStream_t after);

  // A finished request's event back to the pool (no cudaEventCreate in the steady state).
  void give_back(cudaEvent_t event) { events_.push_back(event); }

 private:
  struct Link;
  PipelineLinks() = default;
  Result<RequestPtr> start(Link& link, const DeviceP2p& op, cudaStream_t after);
  Result<cudaEvent_t> take_event();

  int rank_ = 0;
  std::map<std::pair<int, int>, std::unique_ptr<Link>> links_;  // (sender, receiver) pipeline ranks
  std::vector<cudaEvent_t> events_;
};

}  // namespace llmrt
