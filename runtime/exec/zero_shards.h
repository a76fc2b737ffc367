// ZeRO-1 (parallel.zero = 1): each data-parallel rank keeps the optimizer state of its 1/dp of
// the stage's flat parameter buffer. Every gradient bucket (exec/gradient_buckets.h, one per
// layer) is split into dp equal blocks and reduce-scattered when its layer's gradients are done,
// so the reduction still overlaps the backward; rank r keeps block r. The remainder of a bucket
// (count % dp elements, at most dp - 1) is all-reduced and kept by every rank: no padding, so
// the flat buffers, the layers' views and the checkpoint format are those of zero = 0. Under
// bf16/f16 the rank keeps the fp32 master weights of its pieces only (ParamStore::shard_master);
// after the update of its pieces each rank rounds them into the 16-bit compute copy and
// all-gathers that in place (under fp32 the master is what the layers read, gathered whole).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "comm/progress.h"
#include "device/collectives.h"
#include "exec/gradient_buckets.h"
#include "exec/optimizer_step.h"
#include "exec/param_store.h"
#include "plan/layout.h"
#include "util/status.h"

namespace llmrt {

// A run of the flat buffers this rank keeps, and where it sits in the rank's shard buffers.
struct ShardPiece {
  std::size_t flat = 0;   // into the ParamStore's flat buffers, in elements
  std::size_t shard = 0;  // into this rank's shard buffers (reduced gradients, optimizer states)
  std::size_t count = 0;
  bool tail = false;      // a bucket's remainder: every data-parallel rank keeps the same values
};

struct ShardedBucket {
  GradientBucket bucket;
  std::size_t chunk = 0;  // bucket.count / dp: each rank's block of the reduce-scatter
  std::size_t tail = 0;   // bucket.count % dp: all-reduced, kept whole on every rank
  std::size_t shard = 0;  // this rank's block in the shard buffers; its tail right after
};

// Which parts of the buckets data-parallel rank `dp_rank` of `dp` keeps. Pure.
class ZeroLayout {
 public:
  ZeroLayout(const std::vector<GradientBucket>& buckets, int dp, int dp_rank);
  int dp() const { return dp_; }
  int dp_rank() const { return dp_rank_; }
  const std::vector<ShardedBucket>& buckets() const { return buckets_; }
  std::size_t shard_count() const { return shard_count_; }  // elements this rank keeps
  // This rank's pieces that fall in flat range [offset, offset + count), in flat order, cut to it.
  std::vector<ShardPiece> pieces_in(std::size_t offset, std::size_t count) const;
  std::vector<ShardPiece> pieces() const;  // all of them
  const ShardedBucket* find(const GradientBucket& bucket) const;

 private:
  std::vector<ShardPiece> bucket_pieces(const ShardedBucket& sharded) const;
  int dp_ = 1, dp_rank_ = 0;
  std::vector<ShardedBucket> buckets_;  // in flat order
  std::size_t shard_count_ = 0;
};

// The note `check` and `run` print for zero = 1 on one replica ("" otherwise).
std::string zero_note(const Layout& layout);

// A rank's side of ZeRO-1: its reduced gradient pieces and the collectives that fill them and
// gather the updated parameters back. With `overlap` the all-gathers run non-blocking after the
// update, and the store's readers wait for them (ParamStore::settle_slot / settle): the stage
// just before a layer's first forward of the next step, anything else before it reads.
class ZeroShards final : public WeightsInFlight {
 public:
  // `params`, `data_parallel` and `progress` must outlive the shards.
  static Result<std::unique_ptr<ZeroShards>> create(ParamStore& params, Collectives& data_parallel, Progress& progress,
                                                    bool overlap = true);
  ~ZeroShards() override;
  ZeroShards(const ZeroShards&) = delete;
  ZeroShards& operator=(const ZeroShards&) = delete;
  Status wait_slot(std::size_t slot) override;
  Status wait_all() override;

  const ZeroLayout& layout() const { return layout_; }
  Buffer& grads() { return grads_; }  // (shard_count) f32: this rank's reduced gradient pieces

  // Starts a bucket's reduce-scatter (and its tail's all-reduce) into grads(); the requests go
  // to `in_flight`. The bucket's part of the full gradient buffer is not read again this step.
  Status start_reduce(const GradientBucket& bucket, std::vector<RequestPtr>& in_flight);
  // Σ g² over this rank's pieces of the entries weighted 1 (tails on dp rank 0 only): summed
  // over the world, each element of the model once. Added into *total (one f64 in the device's
  // memory) piece by piece in flat order, queued: the caller reads it.
  Status accumulate_sum_of_squares(const std::vector<float>& entry_weights, double* total) const;
  // Updates this rank's pieces of the fp32 master from grads(), one optimizer call per piece
  // (the state Buffers are shard-sized), then all-gathers every bucket's blocks in place, in
  // flat order (non-blocking with overlap; waited for by the readers).
  Status update(OptimizerStep& optimizer, double lr, std::int64_t update, std::int64_t step);

  // Checkpoints. Collective over the data-parallel group: `full` (non-null on the writer) gets
  // the whole (parameter_count) state of the stage; memory beyond it is one bucket.
  Status gather_state(const Buffer& state, std::vector<float>* full);
  // The whole fp32 master weights (parameter_count) in `full` where non-null: gathered from the
  // pieces when they are sharded (collective over the data-parallel group, every rank calls it;
  // canary gaps from the compute copy), else this rank's own copy.
  Status gather_master(std::vector<float>* full);
  // Sets this rank's pieces of `state` from one entry's local (tp-sliced) values.
  Status load_state(Buffer& state, const ParamEntry& entry, const std::vector<float>& local);

 private:
  ZeroShards(ParamStore& params, Collectives& comm, Progress& progress, ZeroLayout layout, bool overlap)
      : params_(params), comm_(comm), progress_(progress), layout_(std::move(layout)), overlap_(overlap) {}
  ParamStore& params_;
  Collectives& comm_;
  Progress& progress_;
  ZeroLayout layout_;
  Buffer grads_;
  bool overlap_ = true;
  std::vector<RequestPtr> gathers_;                  // [bucket of layout_.buckets()] in flight, or null
  std::vector<std::vector<std::size_t>> slot_buckets_;  // [slot] the buckets its parameters lie in
  std::int64_t gather_step_ = 0;                     // the step whose update they carry
  Status wait_bucket(std::size_t bucket);
  Status gather_into(const Buffer& state, std::vector<float>* full);
  Status all_gather_weights(std::int64_t step);
};

}  // namespace llmrt
