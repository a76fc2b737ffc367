// Plays all ranks' action lists with time: the planner's predicted timeline of one
// pipeline step, in the same form a measured timeline takes (see chrome_trace.h).
#pragma once

#include <functional>
#include <vector>

#include <llmrt/action.h>
#include <llmrt/schedule_shape.hpp>

#include "util/status.h"

namespace llmrt {

// One action placed in time, seconds from the start of the step.
// Compute: the pass runs over [start_s, end_s). Receive: the rank reached it at start_s and
// had the data at end_s (end_s - start_s is waiting). Send: issued at start_s, arrives at
// end_s; the sender itself moves on at start_s.
struct TimedAction {
  llmrt_action action;
  double start_s = 0;
  double end_s = 0;
};

struct SimulatedTimeline {
  std::vector<std::vector<TimedAction>> per_rank;  // [rank][index in the rank's list]
  double makespan_s = 0;                           // last end over all ranks
  std::vector<double> idle_fraction;               // [rank] time not computing / makespan
  double bubble_fraction = 0;                      // all ranks' idle time / (p · makespan)
};

// Seconds one compute action takes on `rank`.
using ComputeCost = std::function<double(int rank, const llmrt_action& action)>;
// Seconds from issuing a send on `from` until the data is usable on `to`.
using TransferCost = std::function<double(int from, int to, const llmrt_action& send)>;

// Runs the verifier's semantics (verifier.h) with time: compute actions run one after
// another on each rank; a send is issued when the rank reaches it and costs the rank
// nothing; a receive completes at max(now, matching send's issue + transfer time).
// Verifies the lists first and returns the verifier's error if they are not a schedule.
Result<SimulatedTimeline> simulate_schedule(const ScheduleShape& shape,
                                            const std::vector<std::vector<llmrt_action>>& per_rank,
                                            const ComputeCost& compute_cost,
                                            const TransferCost& transfer_cost);

// The same, for lists the caller has already verified (the planner verifies each shape once
// and simulates it under many cost models).
Result<SimulatedTimeline> simulate_verified_schedule(const ScheduleShape& shape,
                                                     const std::vector<std::vector<llmrt_action>>& per_rank,
                                                     const ComputeCost& compute_cost,
                                                     const TransferCost& transfer_cost);

}  // namespace llmrt
