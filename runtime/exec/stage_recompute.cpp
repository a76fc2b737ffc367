// Full activation recompute in a Stage (docs/executor.md, "Activation recompute"): a layer in
// full mode with saved state gives its saved buffer back to a small pool right after its
// forward, keeping only its input (which the stage keeps anyway); before its backward_input
// the stage takes a buffer again and reruns the forward from that input, with the same call
// context and the same RNG draws, its output discarded. The buffer then lives until the
// layer's weight gradients are done: right after backward_input when the schedule runs W next
// (or the layer fuses both), else until backward_weight (zero-bubble schedules).
#include <algorithm>

#include <fmt/format.h>

#include "exec/stage.h"

namespace llmrt {
namespace {

// Rerun buffers kept for reuse: one covers a schedule that finishes each layer's weights before
// the next layer's rerun; more would keep what recompute is meant to free.
constexpr std::size_t kRerunPool = 1;

// Replays recorded RNG offsets on the job's stream while it lives: the rerun draws what the
// first forward drew, and the stream's position does not move.
class RngReplay {
 public:
  RngReplay(PluginJobState* job, std::uint64_t offset) : job_(job) {
    if (job_ == nullptr) return;
    job_->replay_offset = offset;
    job_->replaying = true;
  }
  ~RngReplay() {
    if (job_ != nullptr) job_->replaying = false;
  }
  RngReplay(const RngReplay&) = delete;
  RngReplay& operator=(const RngReplay&) = delete;
  std::uint64_t position() const { return job_ != nullptr ? job_->replay_offset : 0; }

 private:
  PluginJobState* job_;
};

std::size_t elements_of(const std::vector<std::int64_t>& shape) {
  std::size_t count = 1;
  for (std::int64_t extent : shape) count *= static_cast<std::size_t>(extent);
  return count;
}

std::uint64_t rng_position(const PluginJobState* job) { return job != nullptr ? job->rng_offset.load() : 0; }

}  // namespace

void Stage::plan_reruns() {
  reruns_.assign(layers_.size(), false);
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    // A layer without saved state has nothing to drop: its forward is not run twice.
    reruns_[i] = layers_[i].recompute == Recompute::kFull && shapes_[i].saved_bytes > 0;
    if (reruns_[i]) rerun_bytes_ = std::max(rerun_bytes_, shapes_[i].saved_bytes);
  }
}

bool Stage::recomputes() const { return rerun_bytes_ > 0; }

std::span<std::byte> Stage::saved_of(std::size_t layer, MicrobatchState& state) {
  // A rerun buffer is rerun_bytes_ long; the layer is lent its own size of it.
  return {static_cast<std::byte*>(state.saved[layer].data()), shapes_[layer].saved_bytes};
}

Status Stage::hold_saved(std::size_t layer, MicrobatchState& state) {
  if (!reruns_[layer]) {
    LLMRT_RETURN_IF_ERROR(state.saved[layer].resize(*device_, LLMRT_DTYPE_U8, shapes_[layer].saved_bytes));
  } else if (state.saved[layer].empty()) {
    if (rerun_pool_.empty()) {
      LLMRT_ASSIGN_OR_RETURN(state.saved[layer], Buffer::allocate(*device_, LLMRT_DTYPE_U8, rerun_bytes_));
    } else {
      state.saved[layer] = std::move(rerun_pool_.back());
      rerun_pool_.pop_back();
    }
  }
  state.rng_draws[layer].first = rng_position(placement_.job);
  note_saved_peak();
  return Status::success();
}

Status Stage::drop_saved(std::size_t layer, MicrobatchState& state) {
  state.rng_draws[layer].second = rng_position(placement_.job);
  if (reruns_[layer]) give_back(std::move(state.saved[layer]));
  return Status::success();
}

void Stage::give_back(Buffer buffer) {
  if (buffer.empty() || rerun_pool_.size() >= kRerunPool) return;  // freed here
  rerun_pool_.push_back(std::move(buffer));
}

Status Stage::rerun_forward(std::size_t layer, int microbatch, MicrobatchState& state) {
  const std::size_t i = layer;
  const auto [first_draw, end_draw] = state.rng_draws[i];  // the first forward's (hold_saved records anew)
  LLMRT_RETURN_IF_ERROR(hold_saved(i, state));
  state.rng_draws[i] = {first_draw, end_draw};
  std::vector<llmrt_tensor> in = layer_inputs(i, state);
  std::vector<llmrt_tensor> params = params_->param_tensors(first_slot_ + i);
  LLMRT_RETURN_IF_ERROR(rerun_output_.resize(*device_, output_dtype(i), elements_of(shapes_[i].output)));
  llmrt_tensor out = buffer_tensor(rerun_output_, shapes_[i].output);
  RngReplay replay(placement_.job, first_draw);
  LLMRT_RETURN_IF_ERROR(
      layer_forward(layers_[i].instance, call_context(microbatch),
                    {.in = in, .params = params, .out = {&out, 1}, .saved = saved_of(i, state)},
                    fmt::format("{} forward, rerun for full recompute (microbatch {})", layers_[i].label, microbatch)));
  if (replay.position() != end_draw) {
    return runtime_error("{} (component '{}'): its forward reserved {} RNG offsets when rerun for full "
                         "recompute and {} the first time (microbatch {}); a layer that declares "
                         "LLMRT_LAYER_RECOMPUTE_FULL must draw the same: set its recompute to \"none\"",
                         layers_[i].label, layers_[i].component->name, replay.position() - first_draw,
                         end_draw - first_draw, microbatch);
  }
  // What the rerun wrote is held to the same checks as the first forward (train.detect_anomaly,
  // train.guard_params), so a fault it makes is not blamed on backward_input.
  return checked_call(layers_[i], "forward (rerun for full recompute)", microbatch, {&out, 1}, {}, *params_, *device_);
}

std::size_t Stage::saved_bytes_held() const {
  std::size_t bytes = 0;
  for (const auto& [microbatch, state] : live_) {
    for (const Buffer& saved : state.saved) bytes += saved.bytes();
  }
  for (const MicrobatchState& state : free_states_) {
    for (const Buffer& saved : state.saved) bytes += saved.bytes();
  }
  for (const Buffer& pooled : rerun_pool_) bytes += pooled.bytes();
  return bytes;
}

void Stage::note_saved_peak() { peak_saved_bytes_ = std::max(peak_saved_bytes_, saved_bytes_held()); }

}  // namespace llmrt
