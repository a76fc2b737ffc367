// Appends one rank's compute actions together with the transfers around them, so every
// generator places receives and sends the same way. Internal to the generators.
#pragma once

#include <vector>

#include <llmrt/action.h>

#include "schedule_generators.h"

namespace llmrt::schedule_detail {

class ActionEmitter {
 public:
  ActionEmitter(const ScheduleShape& shape, int rank) : shape_(shape), rank_(rank) {}

  // [RECV_ACTIVATION] FORWARD [SEND_ACTIVATION]
  void forward(int microbatch, int chunk);
  // [RECV_GRADIENT] BACKWARD_INPUT [SEND_GRADIENT]: the input gradient leaves as soon as B
  // has produced it (zero-bubble schedules).
  void backward_input(int microbatch, int chunk);
  // BACKWARD_WEIGHT alone: it needs nothing from, and gives nothing to, other ranks.
  void backward_weight(int microbatch, int chunk);
  // [RECV_GRADIENT] BACKWARD_INPUT BACKWARD_WEIGHT [SEND_GRADIENT]: a non-split backward;
  // the gradient leaves after the whole backward, as it would from a fused kernel.
  void fused_backward(int microbatch, int chunk);

  std::vector<llmrt_action> take() { return std::move(actions_); }

 private:
  int virtual_stage(int chunk) const { return chunk * shape_.stages + rank_; }
  int last_virtual_stage() const { return shape_.stages * shape_.virtual_stages - 1; }
  int owner(int stage) const { return stage % shape_.stages; }
  // Transfers are needed only when the neighbouring virtual stage lives on another rank
  // (with p == 1 every stage is local and chunks hand over in memory).
  bool has_remote_previous(int chunk) const;
  bool has_remote_next(int chunk) const;
  void push(llmrt_action_kind kind, int microbatch, int chunk, int peer);

  ScheduleShape shape_;
  int rank_;
  std::vector<llmrt_action> actions_;
};

// One forward or input-backward pass of (microbatch, chunk) in a rank's compute order.
struct ComputePass {
  bool forward;
  int microbatch;
  int chunk;
};

// 1F1B's order of forwards and input-backwards on `rank` (v == 1), shared with ZB-H1.
std::vector<ComputePass> one_f_one_b_passes(const ScheduleShape& shape, int rank);

// Reason all schedules share for rejecting a shape, or nullptr.
const char* check_positive_shape(const ScheduleShape& shape);

// True when `shape` has positive sizes and `rank` is a pipeline rank of it.
bool is_valid_rank(const ScheduleShape& shape, int rank);

}  // namespace llmrt::schedule_detail
