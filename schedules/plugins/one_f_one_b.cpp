// Built-in pipeline schedule "1f1b" as a plugin: PipeDream-Flush, one forward / one backward.
#include "generated_schedule.h"

LLMRT_PLUGIN("llmrt-schedule-1f1b", "1.0.0") {
  using Schedule = llmrt::schedules::GeneratedSchedule<&llmrt::check_one_f_one_b_shape, &llmrt::one_f_one_b_actions>;
  registrar.add_pipeline_schedule<Schedule>("1f1b", "1.0.0", "1F1B (PipeDream-Flush): warm-up, steady 1F1B, cool-down");
}
