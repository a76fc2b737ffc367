#include "exec/zero_shards.h"

#include <algorithm>

#include <fmt/format.h>

namespace llmrt {

ZeroLayout::ZeroLayout(const std::vector<GradientBucket>& buckets, int dp, int dp_rank) : dp_(dp), dp_rank_(dp_rank) {
  const auto ranks = static_cast<std::size_t>(dp);
  for (const GradientBucket& bucket : buckets) buckets_.push_back({bucket, bucket.count / ranks, bucket.count % ranks, 0});
  // In flat order, shard positions too: a rank's pieces lie in its shard as in the flat buffer.
  std::sort(buckets_.begin(), buckets_.end(),
            [](const ShardedBucket& a, const ShardedBucket& b) { return a.bucket.offset < b.bucket.offset; });
  for (ShardedBucket& sharded : buckets_) {
    sharded.shard = shard_count_;
    shard_count_ += sharded.chunk + sharded.tail;
  }
}

std::vector<ShardPiece> ZeroLayout::bucket_pieces(const ShardedBucket& sharded) const {
  std::vector<ShardPiece> pieces;
  const std::size_t offset = sharded.bucket.offset;
  if (sharded.chunk > 0) {
    pieces.push_back({offset + static_cast<std::size_t>(dp_rank_) * sharded.chunk, sharded.shard, sharded.chunk, false});
  }
  if (sharded.tail > 0) {
    pieces.push_back({offset + sharded.chunk * static_cast<std::size_t>(dp_), sharded.shard + sharded.chunk,
                      sharded.tail, true});
  }
  return pieces;
}

std::vector<ShardPiece> ZeroLayout::pieces_in(std::size_t offset, std::size_t count) const {
  std::vector<ShardPiece> out;
  const std::size_t end = offset + count;
  for (const ShardedBucket& sharded : buckets_) {
    if (sharded.bucket.offset >= end || sharded.bucket.offset + sharded.bucket.count <= offset) continue;
    for (const ShardPiece& piece : bucket_pieces(sharded)) {
      const std::size_t first = std::max(piece.flat, offset), last = std::min(piece.flat + piece.count, end);
      if (first < last) out.push_back({first, piece.shard + (first - piece.flat), last - first, piece.tail});
    }
  }
  return out;
}

std::vector<ShardPiece> ZeroLayout::pieces() const {
  std::vector<ShardPiece> out;
  for (const ShardedBucket& sharded : buckets_) {
    for (const ShardPiece& piece : bucket_pieces(sharded)) out.push_back(piece);
  }
  return out;
}

const ShardedBucket* ZeroLayout::find(const GradientBucket& bucket) const {
  auto it = std::lower_bound(buckets_.begin(), buckets_.end(), bucket.offset,
                             [](const ShardedBucket& b, std::size_t offset) { return b.bucket.offset < offset; });
  return it != buckets_.end() && it->bucket.offset == bucket.offset && it->bucket.count == bucket.count ? &*it
                                                                                                         : nullptr;
}

std::string zero_note(const Layout& layout) {
  if (layout.zero != 1 || layout.dp != 1) return "";
  return "parallel.zero = 1 has no effect with dp = 1: there is one replica, whose optimizer state is whole";
}

Result<std::unique_ptr<ZeroShards>> ZeroShards::create(ParamStore& params, Collectives& data_parallel,
                                                       Progress& progress, bool overlap) {
  ZeroLayout layout(gradient_buckets(params), data_parallel.size(), data_parallel.rank());
  std::unique_ptr<ZeroShards> shards(new ZeroShards(params, data_parallel, progress, std::move(layout), overlap));
  const auto& buckets = shards->layout_.buckets();
  shards->gathers_.resize(buckets.size());
  shards->slot_buckets_.resize(params.slot_count());
  for (std::size_t slot = 0; slot < params.slot_count(); ++slot) {  // tied buckets too: by their entries
    for (std::size_t index : params.slot_entries(slot)) {
      const ParamEntry& entry = params.entries()[index];
      for (std::size_t b = 0; b < buckets.size(); ++b) {
        const GradientBucket& bucket = buckets[b].bucket;
        if (bucket.offset < entry.offset + entry.count && entry.offset < bucket.offset + bucket.count) {
          shards->slot_buckets_[slot].push_back(b);
        }
      }
    }
  }
  params.set_in_flight(shards.get());
  LLMRT_ASSIGN_OR_RETURN_CTX(shards->grads_,
                             Buffer::zeros(params.device(), LLMRT_DTYPE_F32, shards->layout_.shard_count()),
                             "ZeRO-1 gradient shard");
  if (params.compute_dtype() != LLMRT_DTYPE_F32) {  // bf16/f16: the fp32 master goes with the states
    std::vector<MasterPiece> pieces;
    for (const ShardPiece& piece : shards->layout_.pieces()) pieces.push_back({piece.flat, piece.shard, piece.count});
    LLMRT_RETURN_IF_ERROR_CTX(params.shard_master(std::move(pieces), shards->layout_.shard_count()), "ZeRO-1");
  }
  return shards;
}

Status ZeroShards::start_reduce(const GradientBucket& bucket, std::vector<RequestPtr>& in_flight) {
  const ShardedBucket* sharded = layout_.find(bucket);
  if (sharded == nullptr) return runtime_error("ZeRO-1: no shard for the bucket at element {}", bucket.offset);
  float* full = params_.grad_buffer().data_as<float>() + bucket.offset;
  float* mine = grads_.data_as<float>() + sharded->shard;
  if (sharded->chunk > 0) {
    LLMRT_ASSIGN_OR_RETURN(RequestPtr request, comm_.start_reduce_scatter(full, mine, sharded->chunk, LLMRT_DTYPE_F32,
                                                                          LLMRT_REDUCE_SUM, nullptr));
    if (request) in_flight.push_back(std::move(request));
  }
  if (sharded->tail > 0) {
    ComputeDevice& device = params_.device();
    const std::size_t done = sharded->chunk * static_cast<std::size_t>(layout_.dp());
    LLMRT_RETURN_IF_ERROR(device.copy(mine + sharded->chunk, full + done, sharded->tail * sizeof(float),
                                      copy_kind(device.id(), device.id()), nullptr));
    LLMRT_ASSIGN_OR_RETURN(RequestPtr request, comm_.start_all_reduce(mine + sharded->chunk, sharded->tail,
                                                                      LLMRT_DTYPE_F32, LLMRT_REDUCE_SUM, nullptr));
    if (request) in_flight.push_back(std::move(request));
  }
  return Status::success();
}

Status ZeroShards::accumulate_sum_of_squares(const std::vector<float>& entry_weights, double* total) const {
  const float* grads = grads_.data_as<float>();
  for (std::size_t e = 0; e < params_.entries().size(); ++e) {
    if (entry_weights[e] == 0) continue;
    const ParamEntry& entry = params_.entries()[e];
    for (const ShardPiece& piece : layout_.pieces_in(entry.offset, entry.count)) {
      if (piece.tail && layout_.dp_rank() != 0) continue;
      LLMRT_RETURN_IF_ERROR(
          params_.device().accumulate_sum_of_squares(total, grads + piece.shard, piece.count, nullptr));
    }
  }
  return Status::success();
}

ZeroShards::~ZeroShards() {
  params_.set_in_flight(nullptr);
  for (RequestPtr& request : gathers_) {
    if (request) (void)request->wait();  // the buffers outlive no request
  }
}

Status ZeroShards::wait_bucket(std::size_t bucket) {
  if (!gathers_[bucket]) return Status::success();
  // Inside the caller's action (the stage's forward): the watchdog names that.
  LLMRT_RETURN_IF_ERROR_CTX(progress_.wait(gathers_[bucket]), "step {} ZeRO-1 all-gather of the parameters at element {}",
                            gather_step_, layout_.buckets()[bucket].bucket.offset);
  gathers_[bucket].reset();
  return Status::success();
}

// The slot's buckets, then a prod of the others (MPI moves them only inside MPI calls).
Status ZeroShards::wait_slot(std::size_t slot) {
  if (slot >= slot_buckets_.size()) return runtime_error("ZeRO-1: no parameter slot {}", slot);
  for (std::size_t bucket : slot_buckets_[slot]) LLMRT_RETURN_IF_ERROR(wait_bucket(bucket));
  for (RequestPtr& request : gathers_) {
    if (!request) continue;
    LLMRT_ASSIGN_OR_RETURN(const bool done, request->test());
    if (done) request.reset();
  }
  return Status::success();
}

Status ZeroShards::wait_all() {
  for (std::size_t b = 0; b < gathers_.size(); ++b) LLMRT_RETURN_IF_ERROR(wait_bucket(b));
  return Status::success();
}

Status ZeroShards::update(OptimizerStep& optimizer, double lr, std::int64_t update, std::int64_t step) {
  LLMRT_RETURN_IF_ERROR(wait_all());  // (a step's forward has waited for them all already)
  const bool sharded = params_.master_sharded();
  for (const ShardPiece& piece : layout_.pieces()) {
    LLMRT_RETURN_IF_ERROR(optimizer.apply_range(params_.master_buffer(), sharded ? piece.shard : piece.flat, grads_,
                                                piece.shard, piece.count, lr, update, piece.flat));
  }
  if (sharded) LLMRT_RETURN_IF_ERROR(params_.refresh_compute_copy());  // this rank's pieces only
  return all_gather_weights(step);
}

// Every bucket's blocks, in place: the 16-bit compute copy when the master is sharded (half the
// bytes of fp32), else the fp32 parameters the layers read.
Status ZeroShards::all_gather_weights(std::int64_t step) {
  gather_step_ = step;
  if (!overlap_) progress_.begin_action(fmt::format("step {} data-parallel all-gather of the parameters", step), -1);
  Buffer& weights = params_.master_sharded() ? params_.compute_buffer() : params_.master_buffer();
  const std::size_t width = dtype_size(weights.dtype());
  auto* base = static_cast<unsigned char*>(weights.data());
  const auto rank = static_cast<std::size_t>(layout_.dp_rank());
  for (std::size_t b = 0; b < layout_.buckets().size(); ++b) {  // flat order: the next forward's order
    const ShardedBucket& sharded = layout_.buckets()[b];
    if (sharded.chunk == 0) continue;
    unsigned char* bucket = base + sharded.bucket.offset * width;
    const void* mine = bucket + rank * sharded.chunk * width;
    if (!overlap_) {
      LLMRT_RETURN_IF_ERROR_CTX(comm_.all_gather(mine, bucket, sharded.chunk, weights.dtype(), nullptr),
                                "ZeRO-1 all-gather of the parameters at element {}", sharded.bucket.offset);
      continue;
    }
    LLMRT_ASSIGN_OR_RETURN_CTX(gathers_[b], comm_.start_all_gather(mine, bucket, sharded.chunk, weights.dtype(), nullptr),
                               "ZeRO-1 all-gather of the parameters at element {}", sharded.bucket.offset);
  }
  if (!overlap_) progress_.end_action();
  return Status::success();
}

Status ZeroShards::gather_state(const Buffer& state, std::vector<float>* full) {
  if (full != nullptr) full->assign(params_.parameter_count(), 0.0f);
  return gather_into(state, full);
}

Status ZeroShards::gather_master(std::vector<float>* full) {
  if (!params_.master_sharded()) {
    if (full == nullptr) return Status::success();
    LLMRT_ASSIGN_OR_RETURN(*full, params_.host_weights());
    return Status::success();
  }
  if (full != nullptr) {  // the canary gaps; the buckets are overwritten below
    LLMRT_ASSIGN_OR_RETURN(*full, params_.host_weights());
  }
  return gather_into(params_.master_buffer(), full);
}

// The bucket ranges of `full` from every rank's pieces of `state`; the rest of `full` is kept.
Status ZeroShards::gather_into(const Buffer& state, std::vector<float>* full) {
  LLMRT_RETURN_IF_ERROR(wait_all());  // the dp group's collectives in one order; the master whole
  ComputeDevice& device = params_.device();
  std::vector<float> local(layout_.shard_count());
  LLMRT_RETURN_IF_ERROR(device.copy(local.data(), state.data(), local.size() * sizeof(float),
                                    copy_kind(device.id(), cpu_device().id()), nullptr));
  LLMRT_RETURN_IF_ERROR(device.synchronize(nullptr));
  std::vector<float> gathered;
  const auto ranks = static_cast<std::size_t>(layout_.dp());
  for (const ShardedBucket& sharded : layout_.buckets()) {
    gathered.resize(sharded.chunk * ranks);
    if (sharded.chunk > 0) {
      LLMRT_RETURN_IF_ERROR_CTX(comm_.all_gather(local.data() + sharded.shard, gathered.data(), sharded.chunk,
                                                 LLMRT_DTYPE_F32, nullptr),
                                "ZeRO-1: gathering the optimizer state for a checkpoint");
    }
    if (full == nullptr) continue;
    float* out = full->data() + sharded.bucket.offset;
    std::copy(gathered.begin(), gathered.end(), out);
    std::copy_n(local.begin() + static_cast<std::ptrdiff_t>(sharded.shard + sharded.chunk), sharded.tail,
                out + gathered.size());
  }
  return Status::success();
}

Status ZeroShards::load_state(Buffer& state, const ParamEntry& entry, const std::vector<float>& local) {
  ComputeDevice& device = params_.device();
  for (const ShardPiece& piece : layout_.pieces_in(entry.offset, entry.count)) {
    LLMRT_RETURN_IF_ERROR(device.copy(state.data_as<float>() + piece.shard, local.data() + (piece.flat - entry.offset),
                                      piece.count * sizeof(float), copy_kind(cpu_device().id(), device.id()),
                                      nullptr));
  }
  return Status::success();
}

}  // namespace llmrt
