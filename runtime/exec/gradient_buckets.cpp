#include "exec/gradient_buckets.h"

#include <algorithm>

#include <fmt/format.h>

namespace llmrt {

GradientBuckets::GradientBuckets(ParamStore& params, MPI_Comm data_parallel, Progress& progress, int microbatches)
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
  if (++done_[slot] == microbatches_) {
    for (const Range& range : slot_ranges_[slot]) {
      MPI_Request& request = in_flight_.emplace_back(MPI_REQUEST_NULL);
      if (MPI_Iallreduce(MPI_IN_PLACE, params_.grads().data() + range.offset, static_cast<int>(range.count), MPI_FLOAT,
                         MPI_SUM, comm_, &request) != MPI_SUCCESS) {
        return runtime_error("MPI_Iallreduce of a gradient bucket failed");
      }
    }
  }
  // Open MPI moves non-blocking collectives along only inside MPI calls: give it one.
  if (!in_flight_.empty()) {
    int all_done = 0;
    MPI_Testall(static_cast<int>(in_flight_.size()), in_flight_.data(), &all_done, MPI_STATUSES_IGNORE);
  }
  return Status::success();
}

Status GradientBuckets::finish(std::int64_t step) {
  progress_.begin_action(fmt::format("step {} data-parallel gradient all-reduce", step), -1);
  LLMRT_RETURN_IF_ERROR(progress_.wait_all(in_flight_));
  for (std::size_t index : leftover_entries_) {
    const ParamEntry& entry = params_.entries()[index];
    LLMRT_RETURN_IF_ERROR(progress_.allreduce(MPI_IN_PLACE, params_.grads().data() + entry.offset,
                                              static_cast<int>(entry.count), MPI_FLOAT, MPI_SUM, comm_));
  }
  progress_.end_action();
  std::fill(done_.begin(), done_.end(), 0);
  return Status::success();
}

}  // namespace llmrt
