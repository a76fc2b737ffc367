// Resuming a run: rank 0 picks the checkpoint (checkpoint.resume: "auto" = `latest` or else
// the newest complete one, "never", or a path), checking every file's CRC-32 and falling back to
// the previous complete checkpoint with a warning naming the bad file; every rank then loads
// its part, resharding when the writing layout differs from this one.
#pragma once

#include <string>

#include "comm/world.h"
#include "config/spec.h"
#include "exec/trainer.h"
#include "util/status.h"

namespace llmrt {

// The step folder to resume from ("" = start fresh), the same on every rank. Collective.
Result<std::string> choose_resume_dir(const CheckpointSpec& checkpoint, const World& world);

// Loads `step_dir` into the trainer: parameters and optimizer states (re-split for this layout's
// tp rank from the writing layout's slices), the step, update count, loss scale and data
// position. Another model is refused naming the tensor and both shapes. Rank 0 prints one
// line saying what was resumed. Collective.
Status load_checkpoint(const std::string& step_dir, Trainer& trainer, const Spec& spec, const World& world);

}  // namespace llmrt
