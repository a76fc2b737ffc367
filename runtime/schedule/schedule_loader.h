// The one way a pipeline schedule plugin becomes a VerifiedSchedule: look the component up,
// take its default config, ask it whether it can run the shape, fetch every pipeline rank's
// action list and verify them together. The trainer, `check` and the planner all use it.
#pragma once

#include <string>
#include <string_view>

#include "plugin/registry.h"
#include "schedule/verified_schedule.h"
#include "util/status.h"

namespace llmrt {

// `key_path` names where the schedule's name came from in lookup errors ("[parallel].schedule").
Result<VerifiedSchedule> load_verified_schedule(const Registry& registry, const std::string& name,
                                                const ScheduleShape& shape,
                                                std::string_view key_path = "[parallel].schedule");

// load_verified_schedule behind cached_schedule_source, for the planner. The registry must
// outlive the source.
ScheduleSource registry_schedule_source(const Registry& registry);

}  // namespace llmrt
