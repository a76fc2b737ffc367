// Validation loss on [data].val: the first val_sequences windows of the val shards in file
// order (the same sequences every time and on every layout), split across the data-parallel
// replicas, a forward-only pass through the pipeline, the mean loss reduced world-wide.
#pragma once

#include <cstdint>
#include <memory>

#include "config/spec.h"
#include "data/token_shards.h"
#include "exec/trainer.h"
#include "util/status.h"

namespace llmrt {

// Validation runs in whole global batches: the val shards' `windows` must hold one
// train.global_batch of them. The one refusal of a too-short data.val, for check and run.
Status check_val_windows(const Spec& spec, std::int64_t windows, std::int64_t global_batch);

class Validator {
 public:
  // nullptr when [data] names no val shards. Opens and checks them; val_sequences (0: 20 ×
  // global batch) is capped by the windows the file holds, to a multiple of the global batch.
  static Result<std::unique_ptr<Validator>> create(const Spec& spec, const Trainer& trainer);

  bool due(std::int64_t step) const {  // every val_every steps, and after the last
    return step == last_step_ || (every_ > 0 && step % every_ == 0);
  }
  // Collective over the world: every rank calls it after the same step. The mean loss per token.
  Result<double> run(Trainer& trainer, std::int64_t step);
  std::int64_t sequences() const { return sequences_; }

 private:
  Validator(std::unique_ptr<TokenSource> data, std::int64_t sequences, std::int64_t every, std::int64_t last_step)
      : data_(std::move(data)), sequences_(sequences), every_(every), last_step_(last_step) {}

  std::unique_ptr<TokenSource> data_;
  std::int64_t sequences_;  // a multiple of the global batch
  std::int64_t every_;
  std::int64_t last_step_;
};

}  // namespace llmrt
