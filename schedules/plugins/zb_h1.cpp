// Built-in pipeline schedule "zb-h1" as a plugin: zero-bubble H1, weight gradients in bubbles.
#include "generated_schedule.h"

LLMRT_PLUGIN("llmrt-schedule-zb-h1", "1.0.0") {
  using Schedule = llmrt::schedules::GeneratedSchedule<&llmrt::check_zb_h1_shape, &llmrt::zb_h1_actions>;
  registrar.add_pipeline_schedule<Schedule>("zb-h1", "1.0.0", "Zero-bubble ZB-H1: 1F1B with W passes moved into bubbles");
}
