// Built-in pipeline schedule "gpipe" as a plugin: all forwards, then all backwards.
#include "generated_schedule.h"

LLMRT_PLUGIN("llmrt-schedule-gpipe", "1.0.0") {
  using Schedule = llmrt::schedules::GeneratedSchedule<&llmrt::check_gpipe_shape, &llmrt::gpipe_actions>;
  registrar.add_pipeline_schedule<Schedule>("gpipe", "1.0.0", "GPipe: all forwards, then all backwards");
}
