// Single-rank training: the whole model on one stage, the schedule's action list for one
// pipeline rank, gradient accumulation over microbatches, global-norm clipping, the optimizer
// and LR schedule. The distributed executor extends this with sends, receives and groups.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "config/spec.h"
#include "data/token_shards.h"
#include "exec/optimizer_step.h"
#include "exec/stage.h"
#include "plugin/registry.h"
#include "util/status.h"

namespace llmrt {

struct StepReport {
  std::int64_t step = 0;         // 1-based optimizer step
  double loss = 0;               // mean over the step's microbatches
  double lr = 0;
  double grad_norm = 0;          // before clipping
  double seconds = 0;
  std::int64_t tokens = 0;       // trained this step
  double flops = 0;              // model FLOPs this step (forward + both backward passes)
};

class Trainer {
 public:
  static Result<Trainer> create(const Spec& spec, const Registry& registry);

  Result<StepReport> train_step();  // the next optimizer step

  Stage& stage() { return *stage_; }
  OptimizerStep& optimizer() { return *optimizer_; }
  int microbatches() const { return microbatches_; }
  std::int64_t steps_done() const { return steps_done_; }

 private:
  Trainer() = default;
  Status run_actions(StepReport& report);
  Status forward_microbatch(int microbatch, double& loss_sum);

  TrainSpec train_;
  std::int64_t batch_ = 1, seq_ = 1;
  int microbatches_ = 1;
  std::unique_ptr<Stage> stage_;
  std::unique_ptr<OptimizerStep> optimizer_;
  std::unique_ptr<TokenSource> data_;
  std::vector<llmrt_action> actions_;
  double flops_per_microbatch_ = 0;
  std::int64_t steps_done_ = 0;
};

// Model FLOPs of one microbatch of (batch, seq) through the stage's layers, from their cost hints.
Result<double> stage_flops(const Stage& stage, std::int64_t batch, std::int64_t seq);

}  // namespace llmrt
