// Megatron's interleaved 1F1B: v model chunks per rank shrink the bubble by v at the cost
// of v times the point-to-point traffic (Narayanan et al. 2021).
#include "action_emitter.h"
#include "schedule_generators.h"

#include <algorithm>

namespace llmrt {

namespace {

// The k-th forward (or backward) unit of a rank: microbatches go in groups of p, and each
// group visits every chunk before the next group starts, so stage s+1's input is produced
// p units before it is needed. Backwards visit the chunks in reverse.
struct InterleavedUnit {
  int microbatch;
  int chunk;
};

InterleavedUnit interleaved_unit(const ScheduleShape& shape, int k, bool forward) {
  const int p = shape.stages;
  const int group_size = p * shape.virtual_stages;
  const int chunk_in_order = (k % group_size) / p;
  const int chunk = forward ? chunk_in_order : shape.virtual_stages - 1 - chunk_in_order;
  return {(k / group_size) * p + k % p, chunk};
}

// Forwards a rank runs before its first backward: enough to cover the round trip to the
// last virtual stage. With m == p everything runs forward first (Megatron does the same).
int interleaved_warmup(const ScheduleShape& shape, int rank) {
  const int total = shape.microbatches * shape.virtual_stages;
  if (shape.microbatches == shape.stages) return total;
  const int warmup = (shape.stages - rank - 1) * 2 + (shape.virtual_stages - 1) * shape.stages;
  return std::min(warmup, total);
}

}  // namespace

const char* check_interleaved_1f1b_shape(const ScheduleShape& shape) {
  if (const char* reason = schedule_detail::check_positive_shape(shape)) return reason;
  if (shape.microbatches % shape.stages != 0) {
    return "interleaved 1F1B takes microbatches in groups of stages: microbatches must be "
           "a multiple of stages";
  }
  return nullptr;
}

std::vector<llmrt_action> interleaved_1f1b_actions(const ScheduleShape& shape, int rank) {
  if (check_interleaved_1f1b_shape(shape) || !schedule_detail::is_valid_rank(shape, rank)) {
    return {};
  }
  schedule_detail::ActionEmitter emit(shape, rank);
  const int total = shape.microbatches * shape.virtual_stages;
  const int warmup = interleaved_warmup(shape, rank);
  auto forward = [&](int k) {
    InterleavedUnit unit = interleaved_unit(shape, k, true);
    emit.forward(unit.microbatch, unit.chunk);
  };
  auto backward = [&](int k) {
    InterleavedUnit unit = interleaved_unit(shape, k, false);
    emit.fused_backward(unit.microbatch, unit.chunk);
  };
  for (int k = 0; k < warmup; ++k) forward(k);
  for (int i = 0; i < total - warmup; ++i) {
    forward(warmup + i);
    backward(i);
  }
  for (int k = total - warmup; k < total; ++k) backward(k);
  return emit.take();
}

}  // namespace llmrt
