#include "exec/gradient_buckets.h"

#include <algorithm>

#include <fmt/format.h>

namespace llmrt {

GradientBuckets::GradientBuckets(ParamStore& params, Collectives& data_parallel, Progress& progress,
                                 int microbatches)
    : params_(params), comm_(data_parallel), progress_(progress), microbatches_(microbatches) {
  std::vector<bool> owned(params.entries().size(), false);
  for (std::size_t slot = 0; slot < params.slot_count(); ++slot) {
    std::vector<Range> ranges;
    for (std::size_t index : params.slot_entries(slot)) {
      const ParamEntry& entry = params.entries()[index];
      if (entry.tied || owned[index]) continue;
      owned[index] = true;
      if (!ranges.empty() && ranges.back().offset + ranges.back().count == entry.offset) {
        ranges.back().count += entry.count;  // neighbours in the flat buffer: one call
      } else {
        ranges.push_back({entry.offset, entry.count});
      }
    }
    slot_ranges_.push_back(std::move(ranges));
  }
  for (std::size_t index = 0; index < params.entries().size(); ++index) {
    if (!owned[index]) leftover_entries_.push_back(index);
  }
  done_.assign(params.slot_count(), 0);
}

Status GradientBuckets::layer_done(std::size_t slot) {
  float* grads = params_.grad_buffer().data_as<float>();
  if (++done_[slot] == microbatches_) {
    for (const Range& range : slot_ranges_[slot]) {
      LLMRT_ASSIGN_OR_RETURN_CTX(RequestPtr request,
                                 comm_.start_all_reduce(grads + range.offset, range.count, LLMRT_DTYPE_F32,
                                                        LLMRT_REDUCE_SUM, nullptr),
                                 "data-parallel all-reduce of the gradients of layer slot {}", slot);
      if (request) in_flight_.push_back(std::move(request));
    }
  }
  // Open MPI moves non-blocking collectives along only inside MPI calls: give it some.
  for (RequestPtr& request : in_flight_) {
    LLMRT_ASSIGN_OR_RETURN(const bool done, request->test());
    if (!done) break;
  }
  return Status::success();
}

Status GradientBuckets::finish(std::int64_t step) {
  progress_.begin_action(fmt::format("step {} data-parallel gradient all-reduce", step), -1);
  LLMRT_RETURN_IF_ERROR(progress_.wait_all(in_flight_));
  float* grads = params_.grad_buffer().data_as<float>();
  for (std::size_t index : leftover_entries_) {
    const ParamEntry& entry = params_.entries()[index];
    LLMRT_RETURN_IF_ERROR(progress_.wait(
        comm_.start_all_reduce(grads + entry.offset, entry.count, LLMRT_DTYPE_F32, LLMRT_REDUCE_SUM, nullptr)));
  }
  progress_.end_action();
  std::fill(done_.begin(), done_.end(), 0);
  return Status::success();
}

}  // namespace llmrt
