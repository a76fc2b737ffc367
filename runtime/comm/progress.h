// Where a rank is in its step, and how it waits on communication. The executor reports every
// action here and waits on every request through it, so the watchdog (a Progress that gives up
// after [train].timeout_s and stops the job) sees what each rank is doing and waiting for.
#pragma once

#include <mpi.h>

#include <string>
#include <vector>

#include "util/status.h"

namespace llmrt {

class Progress {
 public:
  virtual ~Progress() = default;
  // `waits_for_world_rank`: the rank a receive waits on, -1 for compute and collectives.
  virtual void begin_action(std::string description, int waits_for_world_rank) {}
  virtual void end_action() {}
  virtual Status wait(MPI_Request& request);
  Status wait_all(std::vector<MPI_Request>& requests);
  // A blocking collective, waited on like any request.
  virtual Status allreduce(const void* send, void* recv, int count, MPI_Datatype type, MPI_Op op, MPI_Comm comm);
};

}  // namespace llmrt
