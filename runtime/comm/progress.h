// Where a rank is in its step, and how it waits on communication. The executor reports every
// action here and waits on every request through it, so the watchdog (a Progress that gives up
// after [train].timeout_s and stops the job) sees what each rank is doing and waiting for.
#pragma once

#include <string>
#include <vector>

#include "device/collectives.h"
#include "util/status.h"

namespace llmrt {

class Progress {
 public:
  virtual ~Progress() = default;
  // `waits_for_world_rank`: the rank a receive waits on, -1 for compute and collectives.
  virtual void begin_action(std::string description, int waits_for_world_rank) {}
  virtual void end_action() {}
  // Until `request` is complete; a null request already is.
  virtual Status wait(CommRequest& request);
  Status wait(RequestPtr& request);
  // Every request, then clears the list.
  Status wait_all(std::vector<RequestPtr>& requests);
  // A started operation, waited on at once (a blocking collective the watchdog can see).
  Status wait(Result<RequestPtr> started);
};

}  // namespace llmrt
