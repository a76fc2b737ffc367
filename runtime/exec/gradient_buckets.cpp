#include "exec/gradient_buckets.h"

#include <algorithm>

#include <fmt/format.h>

#include "exec/zero_shards.h"

namespace llmrt {

std::vector<GradientBucket> gradient_buckets(const ParamStore& params) {
  std::vector<GradientBucket> buckets;
  std::vector<bool> owned(params.entries().size(), false);
  for (std::size_t slot = 0; slot < params.slot_count(); ++slot) {
    bool open = false;  // the last bucket is this slot's
    for (std::size_t index : params.slot_entries(slot)) {
      const ParamEntry& entry = params.entries()[index];
      if (entry.tied || owned[index]) continue;
      owned[index] = true;
      if (open && buckets.back().offset + buckets.back().count == entry.offset) {
        buckets.back().count += entry.count;  // neighbours in the flat buffer: one call
      } else {
        buckets.push_back({slot, entry.offset, entry.count});
        open = true;
      }
    }
  }
  for (std::size_t index = 0; index < params.entries().size(); ++index) {
    const ParamEntry& entry = params.entries()[index];
    if (!owned[index]) buckets.push_back({GradientBucket::kAtEnd, entry.offset, entry.count});
  }
  return buckets;
}

GradientBuckets::GradientBuckets(ParamStore& params, Collectives& data_parallel, Progress& progress,
                                 int microbatches, ZeroShards* zero)
    : params_(params), comm_(data_parallel), progress_(progress), microbatches_(microbatches), zero_(zero) {
  buckets_ = gradient_buckets(params);
  slot_buckets_.resize(params.slot_count());
  for (std::size_t b = 0; b < buckets_.size(); ++b) {
    if (buckets_[b].slot != GradientBucket::kAtEnd) slot_buckets_[buckets_[b].slot].push_back(b);
  }
  done_.assign(params.slot_count(), 0);
}

Status GradientBuckets::start(const GradientBucket& bucket) {
  if (zero_ != nullptr) return zero_->start_reduce(bucket, in_flight_);
  float* grads = params_.grad_buffer().data_as<float>();
  LLMRT_ASSIGN_OR_RETURN(RequestPtr request, comm_.start_all_reduce(grads + bucket.offset, bucket.count,
                                                                    LLMRT_DTYPE_F32, LLMRT_REDUCE_SUM, nullptr));
  if (request) in_flight_.push_back(std::move(request));
  return Status::success();
}

Status GradientBuckets::layer_done(std::size_t slot) {
  if (++done_[slot] == microbatches_) {
    for (std::size_t b : slot_buckets_[slot]) {
      LLMRT_RETURN_IF_ERROR_CTX(start(buckets_[b]), "data-parallel {} of the gradients of layer slot {}",
                                zero_ ? "reduce-scatter" : "all-reduce", slot);
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
  progress_.begin_action(fmt::format("step {} data-parallel gradient {}", step,
                                     zero_ ? "reduce-scatter" : "all-reduce"), -1);
  for (const GradientBucket& bucket : buckets_) {
    if (bucket.slot == GradientBucket::kAtEnd) LLMRT_RETURN_IF_ERROR(start(bucket));
  }
  LLMRT_RETURN_IF_ERROR(progress_.wait_all(in_flight_));
  progress_.end_action();
  std::fill(done_.begin(), done_.end(), 0);
  return Status::success();
}

}  // namespace llmrt
