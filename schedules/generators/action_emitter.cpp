// Appends one rank's compute actions with the sends and receives around them.
#include "action_emitter.h"

namespace llmrt::schedule_detail {

bool ActionEmitter::has_remote_previous(int chunk) const {
  int stage = virtual_stage(chunk);
  return stage > 0 && owner(stage - 1) != rank_;
}

bool ActionEmitter::has_remote_next(int chunk) const {
  int stage = virtual_stage(chunk);
  return stage < last_virtual_stage() && owner(stage + 1) != rank_;
}

void ActionEmitter::push(llmrt_action_kind kind, int microbatch, int chunk, int peer) {
  actions_.push_back(llmrt_action{kind, microbatch, chunk, peer});
}

void ActionEmitter::forward(int microbatch, int chunk) {
  int stage = virtual_stage(chunk);
  if (has_remote_previous(chunk)) {
    push(LLMRT_ACTION_RECV_ACTIVATION, microbatch, chunk, owner(stage - 1));
  }
  push(LLMRT_ACTION_FORWARD, microbatch, chunk, -1);
  if (has_remote_next(chunk)) {
    push(LLMRT_ACTION_SEND_ACTIVATION, microbatch, chunk, owner(stage + 1));
  }
}

void ActionEmitter::backward_input(int microbatch, int chunk) {
  int stage = virtual_stage(chunk);
  if (has_remote_next(chunk)) {
    push(LLMRT_ACTION_RECV_GRADIENT, microbatch, chunk, owner(stage + 1));
  }
  push(LLMRT_ACTION_BACKWARD_INPUT, microbatch, chunk, -1);
  if (has_remote_previous(chunk)) {
    push(LLMRT_ACTION_SEND_GRADIENT, microbatch, chunk, owner(stage - 1));
  }
}

void ActionEmitter::backward_weight(int microbatch, int chunk) {
  push(LLMRT_ACTION_BACKWARD_WEIGHT, microbatch, chunk, -1);
}

void ActionEmitter::fused_backward(int microbatch, int chunk) {
  int stage = virtual_stage(chunk);
  if (has_remote_next(chunk)) {
    push(LLMRT_ACTION_RECV_GRADIENT, microbatch, chunk, owner(stage + 1));
  }
  push(LLMRT_ACTION_BACKWARD_INPUT, microbatch, chunk, -1);
  push(LLMRT_ACTION_BACKWARD_WEIGHT, microbatch, chunk, -1);
  if (has_remote_previous(chunk)) {
    push(LLMRT_ACTION_SEND_GRADIENT, microbatch, chunk, owner(stage - 1));
  }
}

bool is_valid_rank(const ScheduleShape& shape, int rank) {
  return shape.stages > 0 && shape.microbatches > 0 && shape.virtual_stages > 0 && rank >= 0 &&
         rank < shape.stages;
}

}  // namespace llmrt::schedule_detail

namespace llmrt::schedule_detail {

const char* check_positive_shape(const ScheduleShape& shape) {
  if (shape.stages < 1 || shape.microbatches < 1 || shape.virtual_stages < 1) {
    return "stages, microbatches and virtual_stages must all be at least 1";
  }
  return nullptr;
}

}  // namespace llmrt::schedule_detail
