// How sends and receives pair up: the key both ends of one transfer compute, and the
// virtual-stage map they are checked against. Shared by the verifier and the simulator.
#pragma once

#include <compare>

#include <llmrt/action.h>
#include <llmrt/schedule_shape.hpp>

namespace llmrt {

// Virtual stage of (rank, chunk): chunk * p + rank (Megatron's interleaving).
inline int virtual_stage_of(const ScheduleShape& shape, int rank, int chunk) {
  return chunk * shape.stages + rank;
}
inline int owner_of_stage(const ScheduleShape& shape, int stage) { return stage % shape.stages; }
inline int virtual_stage_count(const ScheduleShape& shape) {
  return shape.stages * shape.virtual_stages;
}

inline bool is_send(int kind) {
  return kind == LLMRT_ACTION_SEND_ACTIVATION || kind == LLMRT_ACTION_SEND_GRADIENT;
}
inline bool is_receive(int kind) {
  return kind == LLMRT_ACTION_RECV_ACTIVATION || kind == LLMRT_ACTION_RECV_GRADIENT;
}
inline bool is_compute(int kind) {
  return kind == LLMRT_ACTION_FORWARD || kind == LLMRT_ACTION_BACKWARD_INPUT ||
         kind == LLMRT_ACTION_BACKWARD_WEIGHT;
}

// One transfer: (sender rank, receiver rank, what, microbatch, sender's virtual stage).
struct MessageKey {
  int from = 0;
  int to = 0;
  bool gradient = false;  // false: an activation going down the pipeline
  int microbatch = 0;
  int sender_stage = 0;
  auto operator<=>(const MessageKey&) const = default;
};

// The key of a send or receive action on `rank`. The receiver names the sender's stage
// through the pipeline direction: an activation comes from stage s-1, a gradient from s+1.
inline MessageKey message_key(const ScheduleShape& shape, int rank, const llmrt_action& a) {
  const int stage = virtual_stage_of(shape, rank, a.chunk);
  switch (a.kind) {
    case LLMRT_ACTION_SEND_ACTIVATION: return {rank, a.peer_rank, false, a.microbatch, stage};
    case LLMRT_ACTION_SEND_GRADIENT: return {rank, a.peer_rank, true, a.microbatch, stage};
    case LLMRT_ACTION_RECV_ACTIVATION: return {a.peer_rank, rank, false, a.microbatch, stage - 1};
    default: return {a.peer_rank, rank, true, a.microbatch, stage + 1};  // RECV_GRADIENT
  }
}

}  // namespace llmrt
