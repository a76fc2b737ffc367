// The CUDA streams and events of one pipeline rank's compute. Its stages (all its virtual
// stages: the action list runs them one at a time, so they share one queue) run every layer
// call, copy and message conversion on one non-blocking stream; what runs on the device's
// default order (the optimizer, the gradient norm, the data-parallel buckets, ZeRO-1's
// gathers, the parameter store's copies) is ordered against it by events, never by a
// device-wide synchronisation. The graph is drawn in docs/executor.md ("Streams and events").
// On the CPU there are no streams: every handle is null and every call does nothing, so the
// CPU path is exactly what it was.
#pragma once

#include <memory>

#include "device/device.h"
#include "util/status.h"

namespace llmrt {

class StageStreams {
 public:
  // A CPU device: no stream, no event. A GPU: one non-blocking compute stream and two events.
  static Result<std::unique_ptr<StageStreams>> create(ComputeDevice& device);

  Stream* compute() const { return compute_.get(); }  // nullptr on the CPU
  // What layers get as llmrt_call_ctx.stream: the cudaStream_t, or NULL on the CPU.
  llmrt_stream* compute_handle() const { return compute_ ? compute_->plugin_handle() : nullptr; }

  // The default order waits for the compute queued so far (before a bucket's reduction, before
  // the optimizer): record on compute, the default order waits. The host does not wait.
  Status hand_to_default();
  // The compute stream waits for the default order's work queued so far (the update and the
  // weights' compute copy, ZeRO-1's gathers) before the next step's first pass.
  Status take_from_default();
  // The host waits for the compute stream (a check that reads outputs on the host).
  Status synchronize();

 private:
  explicit StageStreams(ComputeDevice& device) : device_(&device) {}
  ComputeDevice* device_;
  std::unique_ptr<Stream> compute_;
  std::unique_ptr<Event> compute_done_;  // recorded on compute_, waited on by the default order
  std::unique_ptr<Event> default_done_;  // recorded on the default order, waited on by compute_
};

}  // namespace llmrt
