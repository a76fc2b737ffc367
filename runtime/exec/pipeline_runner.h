// Runs one rank's pipeline-schedule action list for one optimizer step: forward and both
// backward passes on its stages, activations and gradients (Buffers on the rank's device) sent
// and received through the pipeline group's Collectives, each receive posted one ahead, so
// transfers overlap compute. A message is matched
// by a tag made of (microbatch, sender's virtual stage, activation or gradient).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <tuple>
#include <vector>

#include <llmrt/action.h>

#include "comm/process_groups.h"
#include "comm/progress.h"
#include "data/token_shards.h"
#include "exec/loss_tally.h"
#include "exec/p2p_transport.h"
#include "exec/stage.h"
#include "exec/stage_streams.h"
#include "exec/step_graph.h"
#include "plan/layout.h"
#include "schedule/simulator.h"
#include "util/status.h"

namespace llmrt {

class PipelineRunner {
 public:
  // chunks[c] is this rank's stage for virtual stage c·pp + pp_rank. `streams`: the rank's
  // compute stream, which the chunks share (nullptr, or null streams, on the CPU); it must
  // outlive the runner. A step's first pass waits for the default order (the last update), and
  // the default order waits for the step's compute at its end.
  PipelineRunner(std::vector<Stage*> chunks, const Layout& layout, ProcessGroups& groups, Progress& progress,
                 std::vector<llmrt_action> actions, std::int64_t batch, std::int64_t seq,
                 std::vector<std::int32_t> pipeline_dtypes, StageStreams* streams = nullptr);

  // One step. Microbatch j reads sequences first_sequence + j·B .. + B − 1; each loss enters
  // the mean with weight loss_scale. Returns the sum of this rank's microbatch losses (0 unless
  // it holds the last virtual stage), summed on the device in forward order and read by the
  // host once, at the end of the step; a non-finite one is an error naming its microbatch.
  Result<double> run_step(TokenSource& data, std::int64_t first_sequence, float loss_scale, std::int64_t step);

  // Forward only (validation, after step `step`): `microbatches` microbatches of sequences from
  // first_sequence on, each through every virtual stage in turn, activations sent on and freed
  // as soon as they are, no gradients. Returns the sum of this rank's microbatch losses, as
  // run_step. Implemented in exec/forward_only.cpp.
  Result<double> run_forward_only(TokenSource& data, std::int64_t first_sequence, int microbatches,
                                  std::int64_t step);

  // Records every action's start and end (seconds on MPI_Wtime's clock, or the steady clock
  // without MPI) during step `step`; measured() then holds them.
  void record_step(std::int64_t step) { record_step_ = step; }  // run eagerly under train.cuda_graph

  // train.cuda_graph (exec/step_graph.h): from now on each step's actions are captured in a
  // CUDA graph after a warm-up step and replayed (audited on the CPU). One stage only: pp = 1,
  // one chunk (the job checks refuse anything else before this is reached).
  Status use_cuda_graph();
  const std::vector<TimedAction>& measured() const { return measured_; }

 private:
  using MessageKey = std::tuple<int, int, int>;  // (is_gradient, microbatch, this rank's chunk)

  Status run_action(std::size_t index, TokenSource& data, std::int64_t first_sequence);
  // The step's actions in order. `where` (capture only): the action running, for the message.
  Status run_actions(TokenSource& data, std::int64_t first_sequence, std::int64_t step, bool recording,
                     std::string* where = nullptr);
  Status stage_tokens(TokenSource& data, std::int64_t first_sequence);  // into graph_'s staging
  Status capture_actions(TokenSource& data, std::int64_t first_sequence, std::int64_t step);
  Status replay_actions(std::int64_t step);
  Status forward(const llmrt_action& action, TokenSource& data, std::int64_t first_sequence);
  Status forward_only(int chunk, int microbatch, TokenSource& data, std::int64_t first_sequence);
  Status backward_input(const llmrt_action& action, bool weights_too);
  bool weights_follow(std::size_t index) const;
  Status send(const llmrt_action& action);
  Status receive(std::size_t index);
  Status post_receive(std::size_t index);
  int tag_of(const llmrt_action& action) const;
  int virtual_stage(int chunk) const { return layout_.virtual_stage(coords_pp_, chunk); }
  bool is_first(int chunk) const { return virtual_stage(chunk) == 0; }
  bool is_last(int chunk) const { return virtual_stage(chunk) == layout_.pp * layout_.virtual_stages - 1; }
  double now() const;
  Buffer& inbox_slot(const MessageKey& key);  // inbox_[key], reusing a consumed message's buffer
  void consume(const MessageKey& key);        // the stage has taken its copy: recycle the buffer
  Status begin_pass();                        // the compute stream waits for the default order
  Stream* compute_stream() const { return streams_ != nullptr ? streams_->compute() : nullptr; }
  Status upload_loss_scale(float loss_scale);  // into loss_scale_, when it changed
  Result<double> step_loss_sum(std::int64_t step);  // the tally's sum; an error if not finite
  Status end_pass();                          // the default order waits for the compute stream

  std::vector<Stage*> chunks_;
  Layout layout_;
  // [pp rank] the dtype that rank computes in and sends: a message is received as its sender's
  // and the stage converts it to its own (a mixed room under precision "auto").
  std::vector<std::int32_t> pipeline_dtypes_;
  ProcessGroups& groups_;
  Progress& progress_;
  std::vector<llmrt_action> actions_;
  std::vector<std::size_t> next_receive_;  // [i]: index of the first receive after action i, or size
  std::int64_t batch_, seq_;
  int coords_pp_;
  std::map<MessageKey, Buffer> inbox_;   // arrived (or handed over locally), not yet used
  // Produced, not yet sent: a stage output after its forward, an input gradient after its
  // backward_input. Kept here because a schedule may send after the weight pass freed the
  // microbatch (1F1B sends the gradient after W, like an unsplit backward).
  std::map<MessageKey, Buffer> outbox_;
  // Consumed messages' buffers (at most a few), so a receive does not allocate in the steady
  // state. Those beyond the few are dropped; on a GPU their frees wait for the step's end
  // (ComputeDevice::release_deferred_frees), never for the device mid-step.
  std::vector<Buffer> inbox_spares_;
  Buffer loss_scale_;       // (1) f32: the last stage's output gradient, uploaded when it changes
  std::optional<float> loss_scale_uploaded_;  // what loss_scale_ holds (the host copy the upload reads)
  std::size_t last_forwards_ = 0;  // FORWARD actions on the last virtual stage: the losses of a step
  LossTally losses_;        // this pass's losses, on the device
  StageStreams* streams_;
  P2pTransport transport_;  // receives keyed by action index
  std::unique_ptr<StepGraph> graph_;  // train.cuda_graph, else nullptr
  std::int64_t record_step_ = -1;
  std::vector<TimedAction> measured_;
};

}  // namespace llmrt
