// The size of one pipeline step, as C++ code spells it: the ABI's llmrt_schedule_shape with
// struct_size filled in. One type for the built-in generators, the verifier, the simulator
// and the host's calls into schedule plugins (a ScheduleShape is an llmrt_schedule_shape).
#pragma once

#include <cstdint>

#include "llmrt/plugin_components.h"

namespace llmrt {

struct ScheduleShape : llmrt_schedule_shape {
  // stages p: pipeline ranks; microbatches m per step; virtual_stages v: model chunks per rank.
  constexpr ScheduleShape(std::int32_t stages_in = 1, std::int32_t microbatches_in = 1,
                          std::int32_t virtual_stages_in = 1)
      : llmrt_schedule_shape{sizeof(llmrt_schedule_shape), stages_in, microbatches_in, virtual_stages_in, 0} {}
  // The shape a plugin was handed: only the fields this header knows are read.
  explicit constexpr ScheduleShape(const llmrt_schedule_shape& abi)
      : ScheduleShape(abi.stages, abi.microbatches, abi.virtual_stages) {}
};

}  // namespace llmrt
