// The whole model's global tensors on world rank 0, from a running job on any layout: each rank
// of data-parallel replica 0 places its slices into a flat model-sized buffer (one owner per
// value: tp rank 0 for replicated tensors, the lowest pipeline stage for tied copies) and the
// replica's model-parallel group sums it. For training samples; the cost is one model-sized
// all-reduce per call (docs/PERFORMANCE.md).
#pragma once

#include <optional>

#include "ckpt/model_tensors.h"
#include "comm/process_groups.h"
#include "config/spec.h"
#include "exec/param_store.h"
#include "plugin/registry.h"
#include "util/status.h"

namespace llmrt {

// Collective over every rank of the job (ranks of other replicas return at once). World rank 0
// gets the tensors, every other rank nullopt.
Result<std::optional<ModelTensors>> gather_model(const ModelSpec& model, const Registry& registry,
                                                 const ParamStore& params, ProcessGroups& groups);

}  // namespace llmrt
