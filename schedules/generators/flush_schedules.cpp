// GPipe and 1F1B: the two single-chunk schedules that flush the pipeline every step.
#include "action_emitter.h"
#include "schedule_generators.h"

#include <algorithm>

namespace llmrt {

using schedule_detail::ActionEmitter;
using schedule_detail::ComputePass;

namespace {

const char* check_single_chunk_shape(const ScheduleShape& shape) {
  if (const char* reason = schedule_detail::check_positive_shape(shape)) return reason;
  if (shape.virtual_stages != 1) {
    return "this schedule runs one model chunk per rank: virtual_stages must be 1";
  }
  return nullptr;
}

}  // namespace

namespace schedule_detail {

std::vector<ComputePass> one_f_one_b_passes(const ScheduleShape& shape, int rank) {
  const int m = shape.microbatches;
  // Warm-up fills the pipeline below this rank; deeper ranks need fewer forwards in flight.
  const int warmup = std::min(shape.stages - 1 - rank, m);
  std::vector<ComputePass> passes;
  passes.reserve(2 * static_cast<size_t>(m));
  for (int mb = 0; mb < warmup; ++mb) passes.push_back({true, mb, 0});
  for (int i = 0; i < m - warmup; ++i) {
    passes.push_back({true, warmup + i, 0});
    passes.push_back({false, i, 0});
  }
  for (int mb = m - warmup; mb < m; ++mb) passes.push_back({false, mb, 0});
  return passes;
}

}  // namespace schedule_detail

const char* check_gpipe_shape(const ScheduleShape& shape) {
  return check_single_chunk_shape(shape);
}

std::vector<llmrt_action> gpipe_actions(const ScheduleShape& shape, int rank) {
  if (check_gpipe_shape(shape) || !schedule_detail::is_valid_rank(shape, rank)) return {};
  ActionEmitter emit(shape, rank);
  for (int mb = 0; mb < shape.microbatches; ++mb) emit.forward(mb, 0);
  for (int mb = 0; mb < shape.microbatches; ++mb) emit.fused_backward(mb, 0);
  return emit.take();
}

const char* check_one_f_one_b_shape(const ScheduleShape& shape) {
  return check_single_chunk_shape(shape);
}

std::vector<llmrt_action> one_f_one_b_actions(const ScheduleShape& shape, int rank) {
  if (check_one_f_one_b_shape(shape) || !schedule_detail::is_valid_rank(shape, rank)) {
    return {};
  }
  ActionEmitter emit(shape, rank);
  for (const ComputePass& pass : schedule_detail::one_f_one_b_passes(shape, rank)) {
    if (pass.forward) {
      emit.forward(pass.microbatch, pass.chunk);
    } else {
      emit.fused_backward(pass.microbatch, pass.chunk);
    }
  }
  return emit.take();
}

}  // namespace llmrt
