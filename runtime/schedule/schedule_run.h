// Runs all ranks' action lists together under the verifier's semantics (sends never
// block, a receive waits for its send) without time; the verifier and simulator share it.
#pragma once

#include <cstddef>
#include <functional>
#include <vector>

#include <llmrt/action.h>
#include <llmrt/schedule_shape.hpp>

#include "schedule/schedule_messages.h"

namespace llmrt {

// A rank that cannot move: its next action is a receive whose send was never issued.
struct BlockedRank {
  int rank = 0;
  size_t index = 0;
  MessageKey waits_for;
};

// Calls visit(rank, index) once per action, in an order the semantics allow: a send is
// always visited before its matching receive. Returns the ranks left blocked, empty when
// every list ran to its end. Expects well-formed actions (see verify_schedule).
std::vector<BlockedRank> run_action_lists(const ScheduleShape& shape,
                                          const std::vector<std::vector<llmrt_action>>& per_rank,
                                          const std::function<void(int rank, size_t index)>& visit);

}  // namespace llmrt
