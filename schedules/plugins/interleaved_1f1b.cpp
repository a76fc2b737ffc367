// Built-in pipeline schedule "interleaved-1f1b" as a plugin: Megatron's interleaving of
// virtual_stages model chunks per rank.
#include "generated_schedule.h"

LLMRT_PLUGIN("llmrt-schedule-interleaved-1f1b", "1.0.0") {
  using Schedule = llmrt::schedules::GeneratedSchedule<&llmrt::check_interleaved_1f1b_shape,
                                                       &llmrt::interleaved_1f1b_actions>;
  registrar.add_pipeline_schedule<Schedule>("interleaved-1f1b", "1.0.0",
                                            "Megatron interleaved 1F1B over virtual_stages chunks per rank");
}
