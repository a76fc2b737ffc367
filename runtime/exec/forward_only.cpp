// The pipeline's forward-only pass (validation): each microbatch through every virtual stage
// in turn, in the same (microbatch, virtual stage) order on every rank, so a receive always
// waits on a forward its sender reaches first; no gradients, and a microbatch's activations are
// freed as soon as its stage has passed them on.
#include <fmt/format.h>

#include "exec/pipeline_runner.h"

namespace llmrt {

Status PipelineRunner::forward_only(int chunk, int microbatch, TokenSource& data, std::int64_t first_sequence) {
  Stage& stage = *chunks_[static_cast<std::size_t>(chunk)];
  TokenBatch batch;
  if (is_first(chunk) || is_last(chunk)) {
    LLMRT_ASSIGN_OR_RETURN(auto read, data.sequences_at(first_sequence + microbatch * batch_, batch_));
    batch = std::move(read);
  }
  const int pp = layout_.pp;
  const MessageKey input_key{0, microbatch, chunk};
  if (!is_first(chunk) && pp > 1) {
    // The receive's own key, past every action index of the training list.
    const llmrt_action receive{LLMRT_ACTION_RECV_ACTIVATION, microbatch, chunk, (coords_pp_ + pp - 1) % pp};
    const std::size_t key = actions_.size();
    Buffer& buffer = inbox_slot(input_key);
    LLMRT_RETURN_IF_ERROR(buffer.resize(groups_.device(), pipeline_dtypes_.at(static_cast<std::size_t>(receive.peer_rank)),
                                        stage.input_elements()));
    LLMRT_RETURN_IF_ERROR(transport_.post_receive(key, buffer, receive.peer_rank, tag_of(receive)));
    LLMRT_RETURN_IF_ERROR(transport_.wait_receive(key));
  }
  const Buffer* activation = is_first(chunk) ? nullptr : &inbox_.at(input_key);
  LLMRT_RETURN_IF_ERROR(stage.forward(microbatch, batch.inputs, activation, batch.targets));
  consume(input_key);
  if (is_last(chunk)) {
    // Summed on the device, read at the end; a non-finite validation loss is reported, not an error.
    LLMRT_RETURN_IF_ERROR(losses_.add(stage.loss(microbatch), microbatch, stage.stream()));
  } else if (pp == 1) {
    inbox_[MessageKey{0, microbatch, chunk + 1}] = stage.exchange_output(microbatch, transport_.spare_buffer());
  } else {
    const llmrt_action send{LLMRT_ACTION_SEND_ACTIVATION, microbatch, chunk, (coords_pp_ + 1) % pp};
    LLMRT_RETURN_IF_ERROR(
        transport_.send(stage.exchange_output(microbatch, transport_.spare_buffer()), send.peer_rank, tag_of(send)));
  }
  stage.release(microbatch);
  return transport_.reap_sends(false);
}

Result<double> PipelineRunner::run_forward_only(TokenSource& data, std::int64_t first_sequence, int microbatches,
                                                std::int64_t step) {
  const int pp = layout_.pp;
  if (graph_) graph_->drop();  // the layers run outside it (train.cuda_graph: re-captured next step)
  LLMRT_RETURN_IF_ERROR(begin_pass());
  const bool holds_last = is_last(static_cast<int>(chunks_.size()) - 1);  // the last virtual stage is its last chunk
  LLMRT_RETURN_IF_ERROR(losses_.begin(groups_.device(), holds_last ? static_cast<std::size_t>(microbatches) : 0));
  for (int mb = 0; mb < microbatches; ++mb) {
    for (int chunk = 0; chunk < static_cast<int>(chunks_.size()); ++chunk) {
      const int waits_for = is_first(chunk) || pp == 1 ? -1 : groups_.world_rank_of_stage((coords_pp_ + pp - 1) % pp);
      progress_.begin_action(fmt::format("validation after step {}: forward of microbatch {} on virtual stage {}",
                                         step, mb, virtual_stage(chunk)),
                             waits_for);
      LLMRT_RETURN_IF_ERROR(forward_only(chunk, mb, data, first_sequence));
      progress_.end_action();
    }
  }
  LLMRT_RETURN_IF_ERROR(end_pass());
  progress_.begin_action(fmt::format("validation after step {}: waiting for its sends to be received", step), -1);
  LLMRT_RETURN_IF_ERROR(transport_.reap_sends(true));
  progress_.end_action();
  return losses_.finish(compute_stream());  // the validation's one read of its losses
}

}  // namespace llmrt
