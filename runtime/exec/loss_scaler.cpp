#include "exec/loss_scaler.h"

#include <algorithm>

namespace llmrt {
namespace {
// Below this the scale no longer protects anything: fp16 gradients overflow unscaled, which is
// divergence, not a scaling problem (Megatron's min_loss_scale).
constexpr double kMinScale = 1.0;
// fp16 gradients cannot be helped past this; growth stops here.
constexpr double kMaxScale = 16777216.0;  // 2^24
}  // namespace

LossScaler::LossScaler(const TrainSpec& train, bool any_fp16)
    : dynamic_(any_fp16),
      scale_(dynamic_ ? train.loss_scale_init : 1.0),
      window_(train.loss_scale_window) {}

Result<bool> LossScaler::after_step(bool finite, std::int64_t step) {
  if (finite) {
    if (dynamic_ && ++clean_steps_ >= window_) {
      clean_steps_ = 0;
      if (scale_ * 2 <= kMaxScale) scale_ *= 2;
    }
    return true;
  }
  if (!dynamic_) {
    return runtime_error("step {}: the gradient norm is not finite; stopping before the update", step);
  }
  if (scale_ <= kMinScale) {
    return runtime_error("step {}: fp16 gradients overflow even at loss scale {:g}; the run diverges (try a lower "
                         "lr, or bf16 on cards that have it)", step, scale_);
  }
  scale_ = std::max(scale_ / 2, kMinScale);
  clean_steps_ = 0;
  return false;
}

}  // namespace llmrt
