// The training loop's side of checkpoints: resume before step 1, a checkpoint every
// checkpoint.every steps and at the end of the run, and SIGINT/SIGTERM turned into a checkpoint
// and a clean stop. run_command.cpp calls open() once and after_step() after every step.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "ckpt/checkpoint_writer.h"
#include "comm/world.h"
#include "config/spec.h"
#include "exec/trainer.h"
#include "plugin/registry.h"
#include "util/status.h"

namespace llmrt {

enum class AfterStep { kContinue, kStop };

class TrainingCheckpoints {
 public:
  // Resumes per checkpoint.resume (the trainer then starts after the checkpoint's step) and
  // installs the stop handlers. `config_text`: the run's resolved config, kept beside every
  // checkpoint. `kill_during_write_step` (testing): the step whose file write dies halfway.
  // Collective.
  static Result<std::unique_ptr<TrainingCheckpoints>> open(const Spec& spec, const Registry& registry,
                                                           Trainer& trainer, const World& world,
                                                           std::string config_text,
                                                           std::int64_t kill_during_write_step = -1);

  // After step `step` on every rank: finishes a checkpoint whose files are all in, starts one
  // when due, and on an agreed SIGINT/SIGTERM keeps one and says to stop. Without
  // checkpoint.dir a signal is an error of kind kInterrupted (exit 130). Collective.
  Result<AfterStep> after_step(std::int64_t step);
  // At the end of training: waits for a checkpoint still being written. Collective.
  Status finish();

 private:
  TrainingCheckpoints(const Spec& spec, Trainer& trainer, const World& world)
      : spec_(&spec), trainer_(&trainer), world_(&world) {}
  bool due(std::int64_t step) const;

  const Spec* spec_;
  Trainer* trainer_;
  const World* world_;
  std::unique_ptr<CheckpointWriter> writer_;  // null without checkpoint.dir
};

}  // namespace llmrt
