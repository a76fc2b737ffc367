#include "exec/stage_streams.h"

namespace llmrt {

Result<std::unique_ptr<StageStreams>> StageStreams::create(ComputeDevice& device) {
  std::unique_ptr<StageStreams> streams(new StageStreams(device));
  if (device.is_host()) return streams;
  LLMRT_ASSIGN_OR_RETURN_CTX(streams->compute_, device.create_stream(), "the stage's compute stream");
  LLMRT_ASSIGN_OR_RETURN_CTX(streams->compute_done_, device.create_event(), "the stage's compute event");
  LLMRT_ASSIGN_OR_RETURN_CTX(streams->default_done_, device.create_event(), "the stage's default-order event");
  return streams;
}

// cudaStreamWaitEvent waits for the event's latest record at the time of the call, so one
// event serves every hand-over: a later record does not disturb an earlier wait.
Status StageStreams::hand_to_default() {
  if (!compute_) return Status::success();
  LLMRT_RETURN_IF_ERROR(device_->record(*compute_done_, compute_.get()));
  return device_->wait(nullptr, *compute_done_);
}

Status StageStreams::take_from_default() {
  if (!compute_) return Status::success();
  LLMRT_RETURN_IF_ERROR(device_->record(*default_done_, nullptr));
  return device_->wait(compute_.get(), *default_done_);
}

Status StageStreams::synchronize() {
  if (!compute_) return Status::success();
  return device_->synchronize(compute_.get());
}

}  // namespace llmrt
