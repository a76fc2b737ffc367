// A schedule whose action lists for every pipeline rank were fetched and proved together by
// the verifier: what the executor runs, the planner simulates and `check` reports. Pure (no
// plugins): schedule_loader.h fetches the lists from a plugin, tests from the generators.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <llmrt/action.h>
#include <llmrt/schedule_shape.hpp>

#include "schedule/verifier.h"
#include "util/status.h"

namespace llmrt {

struct VerifiedSchedule {
  std::string name;                                // "1f1b", or a plugin's schedule
  std::string origin;                              // the plugin file it came from; "" when none
  ScheduleShape shape;
  std::vector<std::vector<llmrt_action>> actions;  // [pipeline rank] that rank's list
  ScheduleReport report;                           // the verifier's peaks per rank
};

// One pipeline rank's action list, or why the schedule cannot give it.
using RankActionsFn = std::function<Result<std::vector<llmrt_action>>(int rank)>;

// Fetches every rank's list and verifies them together. A verifier error carries
// "schedule 'NAME' (ORIGIN) for p stages × m microbatches × v virtual stages".
Result<VerifiedSchedule> verify_action_lists(const std::string& name, const std::string& origin,
                                             const ScheduleShape& shape, const RankActionsFn& rank_actions);

// Verified schedules by name and shape, or why that schedule cannot run that shape.
using ScheduleSource =
    std::function<Result<std::shared_ptr<const VerifiedSchedule>>(const std::string& name, const ScheduleShape& shape)>;

// `load` called once per (name, shape), its answer (error included) kept: the planner asks
// for the same pipeline shape for many candidate layouts, possibly from several threads.
ScheduleSource cached_schedule_source(ScheduleSource load);

}  // namespace llmrt
