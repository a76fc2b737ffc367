// train.cuda_graph (docs/executor.md "CUDA graphs"): one stage's step — its forwards, the
// loss copies into the LossTally's slots, its backwards — captured on the rank's compute stream
// in a CUDA graph and replayed on the steps after. Outside the graph stay the passes' event
// waits, the tally's begin and its host read, the loss-scale upload and the optimizer.
//
// Step N0 (the first this process runs, and the first after a graph is dropped) runs eagerly:
// the warm-up that makes every first-use allocation (buffers, the layers' scratch, cuBLASLt's
// plans). The next step is captured, and the ones after replay it. A replay writes and reads
// the addresses the capture saw, so a free on the device since the capture (its frees() moved)
// drops the graph before the next step, which runs eagerly again; the one after re-captures.
//
// Tokens and targets reach the graph through pinned host staging, one (B, T) i32 pair per
// microbatch, written by the host before the step (after the previous step's loss read, which
// waited for the stream) and read by the captured host-to-device copies at each replay.
//
// The CPU captures nothing: there every step after the warm-up runs its actions eagerly inside
// the capture region, whose audit (device/capture_region.h) refuses what a graph could not hold,
// so a rehearsal fails where the GPU would.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "device/capture_region.h"
#include "device/device.h"
#include "util/status.h"

namespace llmrt {

enum class StepMode {
  kEager,    // the actions run as without the key (warm-up, a timed trace step)
  kCapture,  // the actions run inside the capture region; on CUDA recorded into a graph
  kReplay,   // the graph is launched (the CPU, which holds none, runs the region again)
};

// When to capture, replay or run eagerly: the decision alone, unit-tested.
class GraphSchedule {
 public:
  // The next step's mode. `eager_only`: this step runs eagerly (the trace step times each
  // action) and keeps the graph. `frees`: the device's free count now; a change since the
  // capture drops the graph and this step runs eagerly.
  StepMode next(bool eager_only, std::uint64_t frees);
  void captured(std::uint64_t frees);  // a capture ended well when the device's count read `frees`
  // The layers ran outside the graph (validation, an eager step): a plugin may have moved memory
  // the device cannot count (its own scratch), so the graph is dropped and the next step
  // re-captures (no new warm-up: the layers are warm).
  void forget();
  bool held() const { return held_; }
  int drops() const { return drops_; }

 private:
  bool warmed_ = false;  // an eager step has run since the start or the last drop
  bool held_ = false;    // a capture ended well and nothing has dropped it
  std::uint64_t frees_at_capture_ = 0;
  int drops_ = 0;
};

class StepGraph {
 public:
  // `microbatches` pairs of (B, T) = `tokens_per_microbatch` i32 staging on the host of `device`.
  static Result<std::unique_ptr<StepGraph>> create(ComputeDevice& device, Stream* stream, int microbatches,
                                                   std::size_t tokens_per_microbatch);
  ~StepGraph();
  StepGraph(const StepGraph&) = delete;
  StepGraph& operator=(const StepGraph&) = delete;

  // This step's mode (GraphSchedule::next); a dropped graph is destroyed here.
  StepMode begin_step(bool eager_only);
  // The stages ran outside the graph (validation): GraphSchedule::forget, and the graph destroyed.
  void drop();
  bool has_graph() const { return graph_ != nullptr; }
  std::span<std::int32_t> tokens(int microbatch);   // (B, T) staging the step's copies read
  std::span<std::int32_t> targets(int microbatch);  // (B, T)

  // Enters the capture region (and the device's capture). The region's actions follow.
  Status begin_capture();
  // The first free noted in the region so far, as an error (after each action).
  Status check_region() const;
  // Leaves the region and ends the device's capture whatever `region` (the actions' status)
  // was; on success keeps the graph and `microbatches` (the tally's losses, in the order added),
  // else the one error: "step N: capturing the step in a CUDA graph failed in <where>: ...".
  Status end_capture(std::int64_t step, Status region, std::string_view where, std::vector<int> microbatches);
  Status replay();  // launches the graph on the stream
  const std::vector<int>& replayed_microbatches() const { return microbatches_; }

 private:
  StepGraph(ComputeDevice& device, Stream* stream) : device_(device), stream_(stream) {}

  ComputeDevice& device_;
  Stream* stream_;
  GraphSchedule schedule_;
  std::int32_t* staging_ = nullptr;  // [microbatch][tokens | targets] (B·T) each, pinned host memory
  std::size_t per_microbatch_ = 0;   // B·T
  int microbatches_count_ = 0;
  std::optional<CaptureRegion> region_;
  std::unique_ptr<DeviceGraph> graph_;
  std::vector<int> microbatches_;  // the LossTally's slots, as the captured step filled them
};

}  // namespace llmrt
