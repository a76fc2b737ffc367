// A pipeline-schedule component over one of the built-in generators (schedules/generators):
// the plugin is only the ABI wrapper, the algorithm lives in the generator.
#pragma once

#include <string>
#include <vector>

#include <llmrt/plugin.hpp>

#include "generators/schedule_generators.h"

namespace llmrt::schedules {

using ShapeCheck = const char* (*)(const ScheduleShape&);
using ActionGenerator = std::vector<llmrt_action> (*)(const ScheduleShape&, int);

template <ShapeCheck kCheck, ActionGenerator kGenerate>
class GeneratedSchedule : public PipelineSchedule {
 public:
  explicit GeneratedSchedule(const ComponentArgs&) {}

  std::string check_shape(const llmrt_schedule_shape& shape) override {
    const char* reason = kCheck(to_shape(shape));
    return reason != nullptr ? reason : "";
  }

  std::vector<llmrt_action> actions(const llmrt_schedule_shape& shape, int rank) override {
    // The generators return an empty list for a shape they reject; say why instead.
    if (const char* reason = kCheck(to_shape(shape))) throw PluginError(reason);
    if (rank < 0 || rank >= shape.stages) {
      throw PluginError("rank " + std::to_string(rank) + " is outside the pipeline's " +
                        std::to_string(shape.stages) + " stages");
    }
    return kGenerate(to_shape(shape), rank);
  }

 private:
  static ScheduleShape to_shape(const llmrt_schedule_shape& shape) { return ScheduleShape(shape); }
};

}  // namespace llmrt::schedules
