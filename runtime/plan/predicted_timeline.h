// One layout's predicted step, as a timeline: the planner's own stages (costs, placement,
// memory, simulation) replayed for that layout, so the trace is exactly the timeline behind the
// planned step time. `llmrt plan --trace` writes it; `llmrt run --trace` lays it beside the
// measured one.
#pragma once

#include "plan/planner.h"
#include "schedule/simulator.h"

namespace llmrt {

struct PredictedStep {
  SimulatedTimeline timeline;  // one pipeline: a track per pipeline rank
  double dp_allreduce_s = 0;   // after the pipeline
  double tie_allreduce_s = 0;  // tied copies on different stages, after the dp all-reduce
  double optimizer_s = 0;
};

Result<PredictedStep> predict_step_timeline(const PlanRequest& request, const Layout& layout);

}  // namespace llmrt
