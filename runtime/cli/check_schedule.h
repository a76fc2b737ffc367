// The schedule part of `llmrt check`: the [parallel].schedule component, its action lists for
// every pipeline rank, and the verifier's proof that they run (deadlock-free and complete).
#pragma once

#include <optional>
#include <string>

#include "config/spec.h"
#include "plugin/registry.h"
#include "util/status.h"

namespace llmrt {

// The pipeline shape the config fixes, or nullopt when the planner must choose (pp or dp auto).
struct PipelineShapeChoice {
  int stages = 1;
  int microbatches = 1;
  int virtual_stages = 1;
};
Result<std::optional<PipelineShapeChoice>> fixed_pipeline_shape(const ParallelSpec& parallel, const TrainSpec& train,
                                                                 int device_count);

// Looks the schedule up, and when the shape is fixed, verifies all ranks' action lists.
// Returns the lines `check` prints about it.
Result<std::string> check_pipeline_schedule(const Registry& registry, const ParallelSpec& parallel,
                                            const TrainSpec& train, int device_count);

}  // namespace llmrt
