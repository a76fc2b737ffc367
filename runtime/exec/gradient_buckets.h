// Data-parallel gradient all-reduce in buckets, one per layer: a layer's gradients are final
// once every microbatch of the step has added to them, and its non-blocking all-reduce on the
// data-parallel group's Collectives starts right then, while the backward of the layers before
// it goes on. Tied parameters are left for the end of the step (their copies on other stages
// add in too).
#pragma once

#include <vector>

#include "device/collectives.h"
#include "comm/progress.h"
#include "exec/param_store.h"
#include "util/status.h"

namespace llmrt {

class GradientBuckets {
 public:
  // `microbatches`: weight passes per layer per step.
  // `data_parallel` and `progress` must outlive the buckets.
  GradientBuckets(ParamStore& params, Collectives& data_parallel, Progress& progress, int microbatches);

  Status layer_done(std::size_t slot);  // one microbatch's weight gradients of a slot are in
  // Waits for every bucket and all-reduces what no bucket covered; ready for the next step.
  Status finish(std::int64_t step);

 private:
  struct Range {
    std::size_t offset = 0, count = 0;
  };
  ParamStore& params_;
  Collectives& comm_;
  Progress& progress_;
  int microbatches_;
  std::vector<std::vector<Range>> slot_ranges_;  // [slot] contiguous non-tied gradient ranges
  std::vector<int> done_;                         // [slot] microbatches in this step
  std::vector<RequestPtr> in_flight_;
  std::vector<std::size_t> leftover_entries_;     // tied entries: reduced in finish()
};

}  // namespace llmrt
