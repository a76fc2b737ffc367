// Data-parallel gradient reduction in buckets, one per layer: a layer's gradients are final
// once every microbatch of the step has added to them, and its non-blocking all-reduce on the
// data-parallel group's Collectives starts right then, while the backward of the layers before
// it goes on. Tied parameters are left for the end of the step (their copies on other stages
// add in too). Under ZeRO-1 (exec/zero_shards.h) the same buckets are reduce-scattered instead.
#pragma once

#include <cstddef>
#include <limits>
#include <string>
#include <vector>

#include "device/collectives.h"
#include "comm/progress.h"
#include "exec/param_store.h"
#include "util/status.h"

namespace llmrt {

class ZeroShards;

// A contiguous range of the flat gradient buffer reduced as one call.
struct GradientBucket {
  static constexpr std::size_t kAtEnd = std::numeric_limits<std::size_t>::max();
  std::size_t slot = kAtEnd;  // the layer slot whose last weight pass starts it; kAtEnd: a tied entry
  std::size_t offset = 0, count = 0;  // in elements of the flat buffers
};

// The stage's buckets: per slot its non-tied entries, neighbours in the flat buffer merged into
// one range, then one bucket per tied entry (slot kAtEnd). They cover every entry once.
std::vector<GradientBucket> gradient_buckets(const ParamStore& params);

class GradientBuckets {
 public:
  // `microbatches`: weight passes per layer per step. `zero`: reduce-scatter into its shard
  // instead of all-reducing (nullptr: all-reduce).
  // `data_parallel`, `progress` and `zero` must outlive the buckets.
  GradientBuckets(ParamStore& params, Collectives& data_parallel, Progress& progress, int microbatches,
                  ZeroShards* zero = nullptr);

  Status layer_done(std::size_t slot);  // one microbatch's weight gradients of a slot are in
  // Waits for every bucket and reduces the tied ones; ready for the next step.
  Status finish(std::int64_t step);

 private:
  Status start(const GradientBucket& bucket);
  ParamStore& params_;
  Collectives& comm_;
  Progress& progress_;
  int microbatches_;
  ZeroShards* zero_;
  std::vector<GradientBucket> buckets_;
  std::vector<std::vector<std::size_t>> slot_buckets_;  // [slot] indices into buckets_
  std::vector<int> done_;                               // [slot] microbatches in this step
  std::vector<RequestPtr> in_flight_;
};

}  // namespace llmrt
