// The last virtual stage's microbatch losses over one pass (a training step, or a validation
// run), kept on the rank's device. Each forward queues a 4-byte device copy of its loss into the
// next slot; the pass's end sums the slots in the order they were filled (ComputeDevice::
// sum_in_order) and the host reads that one double: one wait per pass, where the host used to
// read the loss, and drain the compute stream, after every microbatch. On the CPU the same calls
// run at once on host memory and give the bits the host's old `sum += loss` loop gave.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "device/buffer.h"
#include "device/device.h"
#include "util/status.h"

namespace llmrt {

class LossTally {
 public:
  struct Bad {  // a microbatch whose loss is not finite
    int microbatch = 0;
    float loss = 0;
  };

  // Before a pass of at most `capacity` losses on `device` (allocates only to grow; the previous
  // pass has been read by then, so no queued work still uses the slots).
  Status begin(ComputeDevice& device, std::size_t capacity);
  // Queues a copy of `loss` ((1) f32 in device memory, the last layer's output for `microbatch`)
  // into the next slot, on `stream`. The host does not wait.
  Status add(const Buffer& loss, int microbatch, Stream* stream);
  // The losses added since begin, summed on the device in the order added (0 when none); the
  // host waits for `stream` once, here.
  Result<double> finish(Stream* stream);
  // After finish: the first microbatch, in the order added, whose loss is not finite (the error
  // path only: it reads every slot).
  Result<std::optional<Bad>> first_non_finite(Stream* stream);
  std::size_t added() const { return microbatches_.size(); }
  const std::vector<int>& microbatches() const { return microbatches_; }  // [slot] whose loss it holds
  // After begin: the slots were filled on the device by a CUDA graph replay of a step whose
  // adds were `microbatches` (exec/step_graph.h); finish then sums them as if added here.
  void added_by_replay(const std::vector<int>& microbatches) { microbatches_ = microbatches; }

 private:
  ComputeDevice* device_ = nullptr;
  Buffer slots_;                   // (capacity) f32 on the device: the losses, in the order added
  Buffer total_;                   // (1) f64 on the device: their sum
  std::vector<int> microbatches_;  // [slot] the microbatch whose loss it holds
};

}  // namespace llmrt
