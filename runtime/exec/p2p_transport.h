// Point-to-point transfers between pipeline stages, through the pipeline group's Collectives:
// non-blocking sends that own their payload Buffer until the transfer has it, and receives
// posted ahead into Buffers the caller keeps. The pipeline runner moves every activation and
// gradient through here; bench/bench_p2p holds it against raw MPI send/receive of the same bytes.
#pragma once

#include <cstddef>
#include <map>
#include <vector>

#include "comm/progress.h"
#include "device/buffer.h"
#include "device/collectives.h"
#include "util/status.h"

namespace llmrt {

class P2pTransport {
 public:
  // `pipeline` and `progress` must outlive the transport.
  P2pTransport(Collectives& pipeline, Progress& progress) : comm_(pipeline), progress_(progress) {}

  // The compute stream the payloads are produced and consumed on (nullptr: the CPU, or the
  // default order): a send starts after the work queued on it, and a received message is
  // ordered before what is queued on it next.
  void set_stream(llmrt_stream* stream) { stream_ = stream; }

  // Sends `payload` (taken over) to `peer`; returns at once.
  Status send(Buffer payload, int peer, int tag);
  // Starts receiving into `buffer` (all of it; kept alive by the caller) under `key`.
  Status post_receive(std::size_t key, Buffer& buffer, int peer, int tag);
  bool posted(std::size_t key) const { return receives_.count(key) != 0; }
  // Waits (through Progress, so the watchdog sees it) until receive `key` has arrived; a
  // stream-ordered receive (NCCL) makes the compute stream wait instead, and the host waits for
  // it only in reap_sends(true), at the end of the step.
  Status wait_receive(std::size_t key);
  // Frees the sends the transport is done with; with `wait`, waits for all of them (and for the
  // stream-ordered receives).
  Status reap_sends(bool wait);
  // A buffer of a finished send, to be filled again (empty when none is free): recycling them
  // keeps fresh allocations, and their page faults, out of the steady state.
  Buffer spare_buffer();

 private:
  struct PendingSend {
    RequestPtr request;
    Buffer buffer;
  };
  Collectives& comm_;
  Progress& progress_;
  std::vector<PendingSend> sends_;
  std::vector<Buffer> spares_;
  std::map<std::size_t, RequestPtr> receives_;
  std::vector<RequestPtr> landed_;  // stream-ordered receives the compute stream waits for
  llmrt_stream* stream_ = nullptr;
};

}  // namespace llmrt
