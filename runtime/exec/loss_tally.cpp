#include "exec/loss_tally.h"

#include <cmath>

namespace llmrt {

Status LossTally::begin(ComputeDevice& device, std::size_t capacity) {
  device_ = &device;
  microbatches_.clear();
  microbatches_.reserve(capacity);
  LLMRT_RETURN_IF_ERROR(total_.resize(device, kDtypeF64, 1));
  return slots_.resize(device, LLMRT_DTYPE_F32, capacity);
}

Status LossTally::add(const Buffer& loss, int microbatch, Stream* stream) {
  if (loss.count() != 1 || loss.dtype() != LLMRT_DTYPE_F32) {
    return runtime_error("microbatch {}: the last layer gave {} {} values, not one f32 loss", microbatch,
                         loss.count(), dtype_name(loss.dtype()));
  }
  const std::size_t slot = microbatches_.size();
  if (device_ == nullptr || slot >= slots_.count()) {
    return runtime_error("microbatch {}: loss slot {} past the {} this pass was sized for", microbatch, slot,
                         slots_.count());
  }
  LLMRT_RETURN_IF_ERROR(device_->copy(slots_.data_as<float>() + slot, loss.data(), sizeof(float),
                                      copy_kind(loss.location(), device_->id()), stream));
  microbatches_.push_back(microbatch);
  return Status::success();
}

Result<double> LossTally::finish(Stream* stream) {
  if (microbatches_.empty()) return 0.0;
  LLMRT_RETURN_IF_ERROR(
      device_->sum_in_order(total_.data_as<double>(), slots_.data_as<float>(), microbatches_.size(), stream));
  double total = 0;
  LLMRT_RETURN_IF_ERROR(device_->copy(&total, total_.data(), sizeof total, copy_kind(device_->id(), cpu_device().id()),
                                      stream));
  LLMRT_RETURN_IF_ERROR(device_->synchronize(stream));  // the pass's one wait for its loss
  return total;
}

Result<std::optional<LossTally::Bad>> LossTally::first_non_finite(Stream* stream) {
  std::vector<float> losses(microbatches_.size());
  if (losses.empty()) return std::optional<Bad>();
  LLMRT_RETURN_IF_ERROR(device_->copy(losses.data(), slots_.data(), losses.size() * sizeof(float),
                                      copy_kind(device_->id(), cpu_device().id()), stream));
  LLMRT_RETURN_IF_ERROR(device_->synchronize(stream));
  for (std::size_t i = 0; i < losses.size(); ++i) {
    if (!std::isfinite(losses[i])) return std::optional<Bad>(Bad{microbatches_[i], losses[i]});
  }
  return std::optional<Bad>();
}

}  // namespace llmrt
