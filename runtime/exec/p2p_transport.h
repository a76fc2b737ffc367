// Point-to-point transfers between pipeline stages: non-blocking sends that own their payload
// until MPI has it, and receives posted ahead into buffers the caller keeps. The pipeline
// runner moves every activation and gradient through here; bench/bench_p2p holds it against
// raw MPI send/receive of the same bytes.
#pragma once

#include <mpi.h>

#include <cstddef>
#include <map>
#include <vector>

#include "comm/progress.h"
#include "util/status.h"

namespace llmrt {

class P2pTransport {
 public:
  P2pTransport(MPI_Comm comm, Progress& progress) : comm_(comm), progress_(progress) {}

  // Sends `payload` (taken over) to `peer`; returns at once.
  Status send(std::vector<float> payload, int peer, int tag);
  // Starts receiving `count` floats into `buffer` (kept alive by the caller) under `key`.
  Status post_receive(std::size_t key, float* buffer, std::size_t count, int peer, int tag);
  bool posted(std::size_t key) const { return receives_.count(key) != 0; }
  // Waits (through Progress, so the watchdog sees it) until receive `key` has arrived.
  Status wait_receive(std::size_t key);
  // Frees the sends MPI is done with; with `wait`, waits for all of them.
  Status reap_sends(bool wait);
  // A buffer of a finished send, to be filled again (empty when none is free): recycling them
  // keeps fresh allocations, and their page faults, out of the steady state.
  std::vector<float> spare_buffer();

 private:
  struct PendingSend {
    MPI_Request request = MPI_REQUEST_NULL;
    std::vector<float> buffer;
  };
  MPI_Comm comm_;
  Progress& progress_;
  std::vector<PendingSend> sends_;
  std::vector<std::vector<float>> spares_;
  std::map<std::size_t, MPI_Request> receives_;
};

}  // namespace llmrt
