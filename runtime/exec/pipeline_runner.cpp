#include "exec/pipeline_runner.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include <fmt/format.h>

#include "plugin/plugin_guard.h"
#include "schedule/verifier.h"

namespace llmrt {
namespace {

bool is_receive(const llmrt_action& action) {
  return action.kind == LLMRT_ACTION_RECV_ACTIVATION || action.kind == LLMRT_ACTION_RECV_GRADIENT;
}

}  // namespace

// One clock for every rank of a node: MPI_Wtime when MPI runs, else the steady clock.
double PipelineRunner::now() const {
  if (groups_.distributed()) return MPI_Wtime();
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

PipelineRunner::PipelineRunner(std::vector<Stage*> chunks, const Layout& layout, ProcessGroups& groups,
                               Progress& progress, std::vector<llmrt_action> actions, std::int64_t batch,
                               std::int64_t seq, std::vector<std::int32_t> pipeline_dtypes, StageStreams* streams)
    : chunks_(std::move(chunks)), layout_(layout), pipeline_dtypes_(std::move(pipeline_dtypes)), groups_(groups),
      progress_(progress), actions_(std::move(actions)),
      batch_(batch), seq_(seq), coords_pp_(groups.coords().pp), streams_(streams),
      transport_(groups.pipeline(), progress) {
  if (streams_ != nullptr) transport_.set_stream(streams_->compute_handle());
  next_receive_.assign(actions_.size() + 1, actions_.size());
  for (std::size_t i = actions_.size(); i-- > 0;) {
    next_receive_[i] = i + 1 < actions_.size() && is_receive(actions_[i + 1]) ? i + 1 : next_receive_[i + 1];
  }
  for (const llmrt_action& action : actions_) {
    if (action.kind == LLMRT_ACTION_FORWARD && is_last(action.chunk)) ++last_forwards_;
  }
}

// The sender's virtual stage identifies the message: an activation comes from the stage
// before the receiver's, a gradient from the stage after it.
int PipelineRunner::tag_of(const llmrt_action& action) const {
  const int own = virtual_stage(action.chunk);
  int sender = own;
  if (action.kind == LLMRT_ACTION_RECV_ACTIVATION) sender = own - 1;
  if (action.kind == LLMRT_ACTION_RECV_GRADIENT) sender = own + 1;
  const bool gradient = action.kind == LLMRT_ACTION_SEND_GRADIENT || action.kind == LLMRT_ACTION_RECV_GRADIENT;
  return (action.microbatch * layout_.pp * layout_.virtual_stages + sender) * 2 + (gradient ? 1 : 0);
}

Buffer& PipelineRunner::inbox_slot(const MessageKey& key) {
  auto [slot, fresh] = inbox_.try_emplace(key);
  if (fresh && !inbox_spares_.empty()) {
    slot->second = std::move(inbox_spares_.back());
    inbox_spares_.pop_back();
  }
  return slot->second;
}

void PipelineRunner::consume(const MessageKey& key) {
  constexpr std::size_t kKeptSpares = 4;
  auto used = inbox_.find(key);
  if (used == inbox_.end()) return;
  if (inbox_spares_.size() < kKeptSpares) inbox_spares_.push_back(std::move(used->second));
  inbox_.erase(used);
}

Status PipelineRunner::begin_pass() {
  return streams_ != nullptr ? streams_->take_from_default() : Status::success();
}

Status PipelineRunner::end_pass() { return streams_ != nullptr ? streams_->hand_to_default() : Status::success(); }

Status PipelineRunner::post_receive(std::size_t index) {
  if (index >= actions_.size() || transport_.posted(index)) return Status::success();
  const llmrt_action& action = actions_[index];
  const bool gradient = action.kind == LLMRT_ACTION_RECV_GRADIENT;
  const Stage& stage = *chunks_[static_cast<std::size_t>(action.chunk)];
  Buffer& buffer = inbox_slot(MessageKey{gradient ? 1 : 0, action.microbatch, action.chunk});
  const std::int32_t sent_as = pipeline_dtypes_.at(static_cast<std::size_t>(action.peer_rank));
  LLMRT_RETURN_IF_ERROR(buffer.resize(groups_.device(), sent_as,
                                      gradient ? stage.output_elements() : stage.input_elements()));
  return transport_.post_receive(index, buffer, action.peer_rank, tag_of(action));
}

Status PipelineRunner::receive(std::size_t index) {
  LLMRT_RETURN_IF_ERROR(post_receive(index));
  return transport_.wait_receive(index);
}

Status PipelineRunner::send(const llmrt_action& action) {
  const bool gradient = action.kind == LLMRT_ACTION_SEND_GRADIENT;
  auto produced = outbox_.find(MessageKey{gradient ? 1 : 0, action.microbatch, action.chunk});
  Buffer payload = std::move(produced->second);  // the verifier proved the send follows its pass
  outbox_.erase(produced);
  return transport_.send(std::move(payload), action.peer_rank, tag_of(action));
}

Status PipelineRunner::forward(const llmrt_action& action, TokenSource& data, std::int64_t first_sequence) {
  const int chunk = action.chunk, mb = action.microbatch;
  Stage& stage = *chunks_[static_cast<std::size_t>(chunk)];
  TokenBatch batch;
  std::span<const std::int32_t> tokens, targets;
  if (graph_) {  // read before the step, into the staging the captured copies read
    tokens = graph_->tokens(mb);
    targets = graph_->targets(mb);
  } else if (is_first(chunk) || is_last(chunk)) {
    LLMRT_ASSIGN_OR_RETURN(auto read, data.sequences_at(first_sequence + mb * batch_, batch_));
    batch = std::move(read);
    tokens = batch.inputs;
    targets = batch.targets;
  }
  const MessageKey input_key{0, mb, chunk};
  const Buffer* activation = is_first(chunk) ? nullptr : &inbox_.at(input_key);
  LLMRT_RETURN_IF_ERROR(stage.forward(mb, tokens, activation, targets));
  consume(input_key);  // the stage keeps its own copy
  if (is_last(chunk)) {
    LLMRT_RETURN_IF_ERROR(losses_.add(stage.loss(mb), mb, stage.stream()));  // read at the step's end
  } else {
    // With one pipeline rank the next virtual stage is this rank's next chunk: no message.
    const MessageKey key = layout_.pp == 1 ? MessageKey{0, mb, chunk + 1} : MessageKey{0, mb, chunk};
    (layout_.pp == 1 ? inbox_ : outbox_)[key] = stage.exchange_output(mb, transport_.spare_buffer());
  }
  return Status::success();
}

// Whether action `index` (a BACKWARD_INPUT) is followed at once by its BACKWARD_WEIGHT on a
// stage that recomputes: the stage then does each layer's weights right after its input
// gradient and frees a recomputed layer's saved state before the next layer's rerun.
bool PipelineRunner::weights_follow(std::size_t index) const {
  const llmrt_action& action = actions_[index];
  if (index + 1 >= actions_.size() || !chunks_[static_cast<std::size_t>(action.chunk)]->recomputes()) return false;
  const llmrt_action& next = actions_[index + 1];
  return next.kind == LLMRT_ACTION_BACKWARD_WEIGHT && next.chunk == action.chunk &&
         next.microbatch == action.microbatch;
}

// The last stage's output gradient, on the device: uploaded at a step's start only when the
// value changed (fp16's dynamic scale; else once per run), not once per microbatch (a copy from
// pageable host memory may make the host wait for the stream).
Status PipelineRunner::upload_loss_scale(float loss_scale) {
  if (last_forwards_ == 0 || loss_scale_uploaded_ == loss_scale) return Status::success();
  ComputeDevice& device = groups_.device();
  LLMRT_RETURN_IF_ERROR(loss_scale_.resize(device, LLMRT_DTYPE_F32, 1));
  loss_scale_uploaded_ = loss_scale;
  return device.copy(loss_scale_.data(), &*loss_scale_uploaded_, sizeof(float),
                     copy_kind(cpu_device().id(), device.id()), compute_stream());
}

// The step's losses summed on the device, read once. Every one finite, or an error naming the
// first microbatch (in forward order) that was not, before any update.
Result<double> PipelineRunner::step_loss_sum(std::int64_t step) {
  LLMRT_ASSIGN_OR_RETURN(const double sum, losses_.finish(compute_stream()));
  if (std::isfinite(sum)) return sum;
  LLMRT_ASSIGN_OR_RETURN(const auto bad, losses_.first_non_finite(compute_stream()));
  if (!bad) return runtime_error("step {}: the losses sum to {} (internal: no microbatch's loss is)", step, sum);
  return runtime_error("step {}, microbatch {}: the loss is {}; stopping before the update (no checkpoint written)",
                       step, bad->microbatch, bad->loss);
}

Status PipelineRunner::backward_input(const llmrt_action& action, bool weights_too) {
  const int chunk = action.chunk, mb = action.microbatch;
  Stage& stage = *chunks_[static_cast<std::size_t>(chunk)];
  const MessageKey grad_key{1, mb, chunk};
  if (is_last(chunk)) {
    LLMRT_RETURN_IF_ERROR(stage.backward_input(mb, loss_scale_, weights_too));
  } else {
    LLMRT_RETURN_IF_ERROR(stage.backward_input(mb, inbox_.at(grad_key), weights_too));
    consume(grad_key);
  }
  if (!is_first(chunk)) {
    const MessageKey key = layout_.pp == 1 ? MessageKey{1, mb, chunk - 1} : MessageKey{1, mb, chunk};
    (layout_.pp == 1 ? inbox_ : outbox_)[key] = stage.exchange_input_grad(mb, transport_.spare_buffer());
  }
  return Status::success();
}

Status PipelineRunner::run_action(std::size_t index, TokenSource& data, std::int64_t first_sequence) {
  const llmrt_action& action = actions_[index];
  LLMRT_RETURN_IF_ERROR(post_receive(next_receive_[index]));  // the next transfer overlaps this action
  switch (action.kind) {
    case LLMRT_ACTION_FORWARD: return forward(action, data, first_sequence);
    case LLMRT_ACTION_BACKWARD_INPUT: return backward_input(action, weights_follow(index));
    case LLMRT_ACTION_BACKWARD_WEIGHT:
      return chunks_[static_cast<std::size_t>(action.chunk)]->backward_weight(action.microbatch);
    case LLMRT_ACTION_SEND_ACTIVATION:
    case LLMRT_ACTION_SEND_GRADIENT: return send(action);
    case LLMRT_ACTION_RECV_ACTIVATION:
    case LLMRT_ACTION_RECV_GRADIENT: return receive(index);
    default: return runtime_error("unknown action kind {}", action.kind);
  }
}

Status PipelineRunner::use_cuda_graph() {
  if (layout_.pp != 1 || chunks_.size() != 1) {
    return runtime_error("train.cuda_graph: a graph covers one stage (pp = 1, one chunk), not pp {} × {} chunks",
                         layout_.pp, chunks_.size());
  }
  LLMRT_ASSIGN_OR_RETURN(graph_, StepGraph::create(groups_.device(), compute_stream(), layout_.microbatches,
                                                   static_cast<std::size_t>(batch_ * seq_)));
  return Status::success();
}

Status PipelineRunner::run_actions(TokenSource& data, std::int64_t first_sequence, std::int64_t step, bool recording,
                                   std::string* where) {
  for (std::size_t index = 0; index < actions_.size(); ++index) {
    const llmrt_action& action = actions_[index];
    const int waits_for = is_receive(action) ? groups_.world_rank_of_stage(action.peer_rank) : -1;
    progress_.begin_action(fmt::format("step {} {}", step, describe_action(action)), waits_for);
    if (where != nullptr) *where = describe_action(action);
    const double start = recording ? now() : 0;
    LLMRT_RETURN_IF_ERROR(run_action(index, data, first_sequence));
    if (where != nullptr) LLMRT_RETURN_IF_ERROR(graph_->check_region());
    if (recording) measured_.push_back(TimedAction{action, start, now()});
    progress_.end_action();
  }
  return Status::success();
}

// Every microbatch's tokens and targets into the pinned staging. The host may write it: the
// previous step's loss read waited for the compute stream, so no replay still reads it.
Status PipelineRunner::stage_tokens(TokenSource& data, std::int64_t first_sequence) {
  for (int mb = 0; mb < layout_.microbatches; ++mb) {
    LLMRT_ASSIGN_OR_RETURN(const TokenBatch batch, data.sequences_at(first_sequence + mb * batch_, batch_));
    const std::span<std::int32_t> tokens = graph_->tokens(mb), targets = graph_->targets(mb);
    if (batch.inputs.size() != tokens.size() || batch.targets.size() != targets.size()) {
      return runtime_error("microbatch {}: {} tokens read, the graph's staging holds {}", mb, batch.inputs.size(),
                           tokens.size());
    }
    std::copy(batch.inputs.begin(), batch.inputs.end(), tokens.begin());
    std::copy(batch.targets.begin(), batch.targets.end(), targets.begin());
  }
  return Status::success();
}

// The actions inside the capture region: recorded into a graph on CUDA (then launched once),
// run and audited on the CPU.
// A layer call that draws random numbers fails the capture, naming the layer.
Status PipelineRunner::capture_actions(TokenSource& data, std::int64_t first_sequence, std::int64_t step) {
  std::string where = "the capture's start";
  Status region = graph_->begin_capture();
  for (Stage* chunk : chunks_) chunk->watch_rng(true);
  if (region.ok()) region = run_actions(data, first_sequence, step, false, &where);
  for (Stage* chunk : chunks_) chunk->watch_rng(false);
  LLMRT_RETURN_IF_ERROR(graph_->end_capture(step, std::move(region), where, losses_.microbatches()));
  // CUDA recorded this step's work without running it: run it now (the tally's list is already
  // this step's). The CPU ran it inside the region.
  if (graph_->has_graph()) LLMRT_RETURN_IF_ERROR(graph_->replay());
  return Status::success();
}

// The captured step again: its tally slots are filled on the device as the capture's were.
Status PipelineRunner::replay_actions(std::int64_t step) {
  progress_.begin_action(fmt::format("step {} CUDA graph replay", step), -1);
  LLMRT_RETURN_IF_ERROR(graph_->replay());
  losses_.added_by_replay(graph_->replayed_microbatches());
  progress_.end_action();
  return Status::success();
}

Result<double> PipelineRunner::run_step(TokenSource& data, std::int64_t first_sequence, float loss_scale,
                                        std::int64_t step) {
  set_plugin_call_step(step);  // named when a plugin crashes, exits or hangs in this step
  const bool recording = step == record_step_;
  if (recording) measured_.clear();
  const StepMode mode = graph_ ? graph_->begin_step(recording) : StepMode::kEager;
  if (graph_) LLMRT_RETURN_IF_ERROR(stage_tokens(data, first_sequence));
  LLMRT_RETURN_IF_ERROR(begin_pass());
  LLMRT_RETURN_IF_ERROR(losses_.begin(groups_.device(), last_forwards_));
  LLMRT_RETURN_IF_ERROR(upload_loss_scale(loss_scale));
  if (mode == StepMode::kEager) {
    LLMRT_RETURN_IF_ERROR(run_actions(data, first_sequence, step, recording));
  } else if (mode == StepMode::kReplay && graph_->has_graph()) {
    LLMRT_RETURN_IF_ERROR(replay_actions(step));
  } else {  // a capture, or the CPU's audited "replay"
    LLMRT_RETURN_IF_ERROR(capture_actions(data, first_sequence, step));
  }
  LLMRT_RETURN_IF_ERROR(end_pass());
  progress_.begin_action(fmt::format("step {} waiting for its sends to be received", step), -1);
  LLMRT_RETURN_IF_ERROR(transport_.reap_sends(true));
  progress_.end_action();
  return step_loss_sum(step);
}

}  // namespace llmrt
