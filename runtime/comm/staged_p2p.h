// Pipeline sends and receives of device buffers as non-blocking MPI requests matched by tag,
// through pinned host memory (or the device pointers themselves when MPI is CUDA-aware). The
// executor posts a stage's receives ahead of its compute; a receive that blocked (as NCCL's
// ncclRecv blocks its stream, and the old staged exchange blocked the host) would deadlock
// 1F1B, whose two stages each wait in a receive the other has not sent yet. Tags make the
// order of posts irrelevant, so any verified schedule runs.
#pragma once

#include <cuda_runtime.h>
#include <mpi.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "comm/device_staging.h"
#include "device/collectives.h"
#include "util/status.h"

namespace llmrt {

class StagedP2p {
 public:
  // direct: MPI takes device pointers (mpi_is_cuda_aware()): no pinned copies.
  explicit StagedP2p(bool direct) : direct_(direct) {}
  StagedP2p(const StagedP2p&) = delete;
  StagedP2p& operator=(const StagedP2p&) = delete;

  // buffer: `count` elements of `dtype` on the device. The send has read the buffer when this
  // returns (the work queued on `stream` before it included), so the caller may reuse it; the
  // request completes when MPI has delivered the bytes.
  Result<RequestPtr> start_send(MPI_Comm comm, const void* buffer, std::size_t count, std::int32_t dtype, int peer,
                                int tag, cudaStream_t stream);
  // The request completes once the bytes are in `buffer` (copied from pinned memory on
  // `stream`, which is synchronised before test() or wait() reports completion).
  Result<RequestPtr> start_recv(MPI_Comm comm, void* buffer, std::size_t count, std::int32_t dtype, int peer,
                                int tag, cudaStream_t stream);

  // A pinned buffer of at least `bytes` from the pool (returned by the request that used it).
  Result<PinnedBuffer> take_pinned(std::size_t bytes);
  void give_back(PinnedBuffer buffer) { pool_.push_back(std::move(buffer)); }

 private:
  bool direct_;
  std::vector<PinnedBuffer> pool_;  // finished requests' buffers: no cudaMallocHost in the steady state
};

}  // namespace llmrt
