#include "exec/step_graph.h"

#include <utility>

#include <fmt/format.h>

namespace llmrt {

StepMode GraphSchedule::next(bool eager_only, std::uint64_t frees) {
  if (held_ && frees != frees_at_capture_) {  // memory the graph uses may be gone: drop it
    forget();
    warmed_ = true;  // this eager step is the new warm-up
    return StepMode::kEager;
  }
  if (eager_only || !warmed_) {
    // An eager step runs the layers outside the graph, where a plugin's own memory (the GPT
    // layers' scratch) may move without the device seeing a free: the graph goes with it.
    if (held_) forget();
    warmed_ = true;
    return StepMode::kEager;
  }
  return held_ ? StepMode::kReplay : StepMode::kCapture;
}

void GraphSchedule::forget() {
  if (!held_) return;
  held_ = false;
  ++drops_;
}

void GraphSchedule::captured(std::uint64_t frees) {
  held_ = true;
  frees_at_capture_ = frees;
}

Result<std::unique_ptr<StepGraph>> StepGraph::create(ComputeDevice& device, Stream* stream, int microbatches,
                                                     std::size_t tokens_per_microbatch) {
  std::unique_ptr<StepGraph> graph(new StepGraph(device, stream));
  const std::size_t bytes = 2 * static_cast<std::size_t>(microbatches) * tokens_per_microbatch * sizeof(std::int32_t);
  LLMRT_ASSIGN_OR_RETURN_CTX(void* staging, device.allocate_host(bytes),
                             "train.cuda_graph: {} bytes of pinned token staging", bytes);
  graph->staging_ = static_cast<std::int32_t*>(staging);
  graph->per_microbatch_ = tokens_per_microbatch;
  graph->microbatches_count_ = microbatches;
  return graph;
}

StepGraph::~StepGraph() {
  region_.reset();
  graph_.reset();
  device_.free_host(staging_);
}

StepMode StepGraph::begin_step(bool eager_only) {
  const StepMode mode = schedule_.next(eager_only, device_.frees());
  if (!schedule_.held()) graph_.reset();
  return mode;
}

void StepGraph::drop() {
  schedule_.forget();
  graph_.reset();
}

std::span<std::int32_t> StepGraph::tokens(int microbatch) {
  return {staging_ + 2 * static_cast<std::size_t>(microbatch) * per_microbatch_, per_microbatch_};
}

std::span<std::int32_t> StepGraph::targets(int microbatch) {
  return {staging_ + (2 * static_cast<std::size_t>(microbatch) + 1) * per_microbatch_, per_microbatch_};
}

Status StepGraph::begin_capture() {
  graph_.reset();
  region_.emplace();
  return device_.begin_capture(stream_);
}

Status StepGraph::check_region() const {
  if (region_) {
    if (std::optional<std::string> noted = region_->noted()) return runtime_error("{}", *noted);
  }
  return Status::success();
}

Status StepGraph::end_capture(std::int64_t step, Status region, std::string_view where, std::vector<int> microbatches) {
  if (region.ok()) region = check_region();
  region_.reset();
  auto ended = device_.end_capture(stream_);  // always: a failed region must leave capture mode
  auto failed = [&](std::string_view in, const Error& error) {
    return runtime_error("step {}: capturing the step in a CUDA graph failed in {}: {}; set train.cuda_graph = false "
                         "to run it eagerly",
                         step, in, error.message());
  };
  if (!region.ok()) return failed(where, region.error());
  if (!ended.ok()) return failed("the capture's end", ended.error());
  graph_ = std::move(*ended);  // nullptr on the CPU: its "replay" is the audited region again
  microbatches_ = std::move(microbatches);
  schedule_.captured(device_.frees());
  return Status::success();
}

Status StepGraph::replay() { return graph_->launch(stream_); }

}  // namespace llmrt
