// The collectives of one process group, as the executor and the plugins' host table use them:
// an interface implemented per kind of memory (MPI on host memory, NCCL or MPI through pinned
// host buffers on device memory: runtime/comm), and by SelfCollectives for a group of one.
// Counts are in elements; dtypes are llmrt_dtype (or kDtypeF64 for host scalars); ops are
// llmrt_reduce_op; streams are the plugins' llmrt_stream (NULL on the CPU).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <llmrt/plugin.h>

#include "device/buffer.h"
#include "device/device.h"
#include "util/status.h"

namespace llmrt {

// A started non-blocking operation. Finish it through Progress::wait, so the watchdog sees
// every wait; a null request is one that completed when it was started.
class CommRequest {
 public:
  virtual ~CommRequest() = default;
  virtual Result<bool> test() = 0;  // moves it along; true once its buffers may be touched
  virtual Status wait() = 0;        // blocks until then
  // Whether a stream can wait for it instead of the host (an NCCL transfer, finished by a CUDA
  // event): then order_before(stream) makes `stream` wait and returns at once. Default: no, and
  // order_before is wait().
  virtual bool stream_ordered() const { return false; }
  virtual Status order_before(llmrt_stream* /*stream*/) { return wait(); }
};
using RequestPtr = std::unique_ptr<CommRequest>;

class Collectives {
 public:
  virtual ~Collectives() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;

  // Blocking on host memory; ordered on `stream` on device memory. send and recv may alias.
  // send, recv: `count` elements.
  virtual Status all_reduce(const void* send, void* recv, std::size_t count, std::int32_t dtype, std::int32_t op,
                            llmrt_stream* stream) = 0;
  // send: send_count elements; recv: send_count * size(), rank r's block at r * send_count.
  // In place when send == recv + rank() * send_count (ZeRO-1's parameter all-gather).
  virtual Status all_gather(const void* send, void* recv, std::size_t send_count, std::int32_t dtype,
                            llmrt_stream* stream) = 0;
  // send: recv_count * size() elements; recv: this rank's reduced block of recv_count.
  virtual Status reduce_scatter(const void* send, void* recv, std::size_t recv_count, std::int32_t dtype,
                                std::int32_t op, llmrt_stream* stream) = 0;
  virtual Status broadcast(void* buffer, std::size_t count, std::int32_t dtype, int root, llmrt_stream* stream) = 0;

  // Non-blocking: an in-place all-reduce (gradient buckets), and point to point within the
  // group (pipeline activations; `tag` tells messages between the same pair apart).
  virtual Result<RequestPtr> start_all_reduce(void* buffer, std::size_t count, std::int32_t dtype, std::int32_t op,
                                              llmrt_stream* stream) = 0;
  virtual Result<RequestPtr> start_send(const void* buffer, std::size_t count, std::int32_t dtype, int peer, int tag,
                                        llmrt_stream* stream) = 0;
  virtual Result<RequestPtr> start_recv(void* buffer, std::size_t count, std::int32_t dtype, int peer, int tag,
                                        llmrt_stream* stream) = 0;

  // Non-blocking reduce-scatter (ZeRO-1's gradient buckets); send and recv must not overlap.
  // send: recv_count * size() elements; recv: this rank's reduced block of recv_count. The
  // default runs the blocking call and returns a completed (null) request.
  virtual Result<RequestPtr> start_reduce_scatter(const void* send, void* recv, std::size_t recv_count,
                                                  std::int32_t dtype, std::int32_t op, llmrt_stream* stream) {
    LLMRT_RETURN_IF_ERROR(reduce_scatter(send, recv, recv_count, dtype, op, stream));
    return RequestPtr();
  }

  // Non-blocking all-gather (ZeRO-1's updated weights, overlapped with the next forward); in
  // place when `send` is this rank's block of `recv` (recv: send_count * size() elements). The
  // default runs the blocking call and returns a completed (null) request.
  virtual Result<RequestPtr> start_all_gather(const void* send, void* recv, std::size_t send_count,
                                              std::int32_t dtype, llmrt_stream* stream) {
    LLMRT_RETURN_IF_ERROR(all_gather(send, recv, send_count, dtype, stream));
    return RequestPtr();
  }

  // A pipeline group on GPUs: how point to point travels, for the plan paragraph ("NCCL (2
  // links, ...)" or "staged MPI (...)"; "" on host memory, where it is MPI matched by tag). A
  // schedule whose links are not in the same order on both ends (schedule/link_order.h) asks
  // for tag matching: NCCL matches by order only.
  virtual std::string p2p_path() const { return ""; }
  virtual void match_p2p_by_tag(std::string /*why*/) {}

  // Whole buffers.
  Result<RequestPtr> start_all_reduce(Buffer& buffer, std::int32_t op, llmrt_stream* stream = nullptr) {
    return start_all_reduce(buffer.data(), buffer.count(), buffer.dtype(), op, stream);
  }
  Result<RequestPtr> start_send(const Buffer& buffer, int peer, int tag, llmrt_stream* stream = nullptr) {
    return start_send(buffer.data(), buffer.count(), buffer.dtype(), peer, tag, stream);
  }
  Result<RequestPtr> start_recv(Buffer& buffer, int peer, int tag, llmrt_stream* stream = nullptr) {
    return start_recv(buffer.data(), buffer.count(), buffer.dtype(), peer, tag, stream);
  }
};

// A group of one: reductions and gathers copy (on `device`), broadcast from root 0 does
// nothing, and point to point has no peer.
class SelfCollectives final : public Collectives {
 public:
  explicit SelfCollectives(ComputeDevice& device) : device_(device) {}
  int rank() const override { return 0; }
  int size() const override { return 1; }
  Status all_reduce(const void* send, void* recv, std::size_t count, std::int32_t dtype, std::int32_t op,
                    llmrt_stream* stream) override;
  Status all_gather(const void* send, void* recv, std::size_t send_count, std::int32_t dtype,
                    llmrt_stream* stream) override;
  Status reduce_scatter(const void* send, void* recv, std::size_t recv_count, std::int32_t dtype, std::int32_t op,
                        llmrt_stream* stream) override;
  Status broadcast(void* buffer, std::size_t count, std::int32_t dtype, int root, llmrt_stream* stream) override;
  Result<RequestPtr> start_all_reduce(void* buffer, std::size_t count, std::int32_t dtype, std::int32_t op,
                                      llmrt_stream* stream) override;
  Result<RequestPtr> start_send(const void* buffer, std::size_t count, std::int32_t dtype, int peer, int tag,
                                llmrt_stream* stream) override;
  Result<RequestPtr> start_recv(void* buffer, std::size_t count, std::int32_t dtype, int peer, int tag,
                                llmrt_stream* stream) override;
  using Collectives::start_all_reduce;
  using Collectives::start_recv;
  using Collectives::start_send;

 private:
  // Device memory is copied on `stream` (the caller's order), host memory at once.
  Status copy(const void* send, void* recv, std::size_t count, std::int32_t dtype, llmrt_stream* stream);
  ComputeDevice& device_;
};

}  // namespace llmrt

// The host's definition of the plugins' opaque communicator handle: the group's collectives.
// The host table's collective slots dispatch through it (a NULL handle is a group of one), so
// a plugin always reaches the implementation its group was built with; nothing is installed.
struct llmrt_comm {
  llmrt::Collectives* collectives = nullptr;
};
