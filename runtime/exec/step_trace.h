// `llmrt run --trace FILE`: every rank's measured actions of one step gathered on rank 0 and
// written as one Chrome trace (Perfetto opens it), a process per rank, times from the step's
// earliest start. The planner adds its predicted timeline beside it once it lands.
#pragma once

#include <string>
#include <vector>

#include "comm/process_groups.h"
#include "schedule/simulator.h"
#include "util/status.h"

namespace llmrt {

// The planner's timeline of the same step, laid beside the measured ranks in the trace.
struct PredictedTrack {
  SimulatedTimeline timeline;  // one pipeline, a track per pipeline rank
  std::string label;           // "predicted: pp2·tp1·dp1 v1 1f1b"
};

// Collective over the world when distributed. Only rank 0 writes `path`; `predicted` (rank 0's,
// may be null) goes in as processes "predicted pipeline rank N" after the measured ones.
Status write_step_trace(const std::vector<TimedAction>& measured, const ProcessGroups& groups, std::int64_t step,
                        const std::string& path, const PredictedTrack* predicted = nullptr);

// The timeline of measured per-rank actions: times shifted to start at 0, idle fractions.
SimulatedTimeline measured_timeline(std::vector<std::vector<TimedAction>> per_rank);

}  // namespace llmrt
