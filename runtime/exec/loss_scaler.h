// Dynamic loss scaling for fp16, as torch.cuda.amp.GradScaler and Megatron's DynamicGradScaler
// do it: the loss gradient is multiplied by the scale so small fp16 activation gradients do not
// flush to zero; the fp32 parameter gradients are divided by it before clipping and the update.
// A step whose gradients overflowed (a non-finite global norm) is skipped and the scale halved;
// after `window` clean steps in a row it doubles. bf16 and fp32 keep fp32's exponent range and
// run with a fixed scale of 1, where a non-finite norm is an error, not a skip.
#pragma once

#include <cstdint>

#include "config/spec.h"
#include "util/status.h"

namespace llmrt {

class LossScaler {
 public:
  // Dynamic when any rank computes in fp16 (train.loss_scale_init, train.loss_scale_window);
  // fixed at 1 otherwise.
  LossScaler(const TrainSpec& train, bool any_fp16);

  bool dynamic() const { return dynamic_; }
  double scale() const { return scale_; }  // what this step's loss gradient is multiplied by

  // After a step's gradients are reduced: `finite` says whether their norm was. Returns whether
  // the update may be applied (true), or the step is skipped (false, the scale halved). An
  // overflow with a fixed scale, or with the scale already at its floor, is an error.
  Result<bool> after_step(bool finite, std::int64_t step);

  // What a checkpoint keeps and a resume puts back: the scale and the clean steps since the
  // last overflow or growth.
  struct State {
    double scale = 1;
    std::int64_t clean_steps = 0;
  };
  State state() const { return {scale_, clean_steps_}; }
  void restore(const State& state) {
    scale_ = state.scale;
    clean_steps_ = state.clean_steps;
  }

 private:
  bool dynamic_ = false;
  double scale_ = 1;
  std::int64_t window_ = 0;
  std::int64_t clean_steps_ = 0;  // since the last overflow or growth
};

}  // namespace llmrt
