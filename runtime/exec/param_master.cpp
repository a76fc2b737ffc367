// The sharded fp32 master weights of a ParamStore (ZeRO-1 under bf16/f16, exec/zero_shards.h):
// the rank keeps the fp32 master of its pieces only, the layers read the whole 16-bit compute
// copy, and whatever wants every weight in fp32 reads the compute copy widened.
#include <algorithm>

#include <fmt/format.h>

#include "exec/param_store.h"

namespace llmrt {

Status ParamStore::shard_master(std::vector<MasterPiece> pieces, std::size_t shard_count) {
  if (compute_params_.empty()) return runtime_error("sharding the fp32 master weights needs a bf16/f16 compute copy");
  if (sharded_) return runtime_error("the fp32 master weights are sharded already");
  std::sort(pieces.begin(), pieces.end(), [](const MasterPiece& a, const MasterPiece& b) { return a.flat < b.flat; });
  LLMRT_ASSIGN_OR_RETURN_CTX(master_, Buffer::zeros(*device_, LLMRT_DTYPE_F32, shard_count),
                             "the sharded fp32 master weights");
  const CopyKind kind = copy_kind(device_->id(), device_->id());
  for (const MasterPiece& piece : pieces) {
    if (piece.shard + piece.count > shard_count || piece.flat + piece.count > params_.count()) {
      return runtime_error("master piece at element {} (+{}) lies outside the buffers", piece.flat, piece.count);
    }
    LLMRT_RETURN_IF_ERROR(device_->copy(master_.data_as<float>() + piece.shard, params_.data_as<float>() + piece.flat,
                                        piece.count * sizeof(float), kind, nullptr));
  }
  LLMRT_RETURN_IF_ERROR(device_->synchronize(nullptr));
  pieces_ = std::move(pieces);
  sharded_ = true;
  params_ = Buffer();  // the whole fp32 master goes: the compute copy holds every weight
  return Status::success();
}

// Rounds each piece's fp32 master into its place in the compute copy.
Status ParamStore::refresh_compute_pieces() {
  auto* compute = static_cast<unsigned char*>(compute_params_.data());
  const std::size_t width = dtype_size(compute_params_.dtype());
  for (const MasterPiece& piece : pieces_) {
    LLMRT_RETURN_IF_ERROR(device_->convert(compute + piece.flat * width, compute_params_.dtype(),
                                           master_.data_as<float>() + piece.shard, LLMRT_DTYPE_F32, piece.count,
                                           nullptr));
  }
  return Status::success();
}

// One entry's local (tp-sliced) values: the pieces of it this rank keeps into the master, all
// of it rounded into the compute copy (every rank reads the same values, so no gather).
// local: (entry.count) f32 on the host.
Status ParamStore::load_sharded(const ParamEntry& entry, const std::vector<float>& local) {
  const CopyKind to_device = copy_kind(cpu_device().id(), device_->id());
  for (const MasterPiece& piece : pieces_) {
    const std::size_t first = std::max(piece.flat, entry.offset);
    const std::size_t last = std::min(piece.flat + piece.count, entry.offset + entry.count);
    if (first >= last) continue;
    LLMRT_RETURN_IF_ERROR(device_->copy(master_.data_as<float>() + piece.shard + (first - piece.flat),
                                        local.data() + (first - entry.offset), (last - first) * sizeof(float),
                                        to_device, nullptr));
  }
  LLMRT_ASSIGN_OR_RETURN(Buffer staging, Buffer::allocate(*device_, LLMRT_DTYPE_F32, entry.count));
  LLMRT_RETURN_IF_ERROR(device_->copy(staging.data(), local.data(), entry.count * sizeof(float), to_device, nullptr));
  auto* compute = static_cast<unsigned char*>(compute_params_.data()) + entry.offset * dtype_size(compute_params_.dtype());
  LLMRT_RETURN_IF_ERROR(device_->convert(compute, compute_params_.dtype(), staging.data(), LLMRT_DTYPE_F32,
                                         entry.count, nullptr));
  return device_->synchronize(nullptr);  // before `staging` goes
}

Result<std::vector<float>> ParamStore::host_weights() const {
  LLMRT_RETURN_IF_ERROR(settle());
  std::vector<float> host(parameter_count());
  const CopyKind to_host = copy_kind(device_->id(), cpu_device().id());
  if (!sharded_) {
    LLMRT_RETURN_IF_ERROR(device_->copy(host.data(), params_.data(), params_.bytes(), to_host, nullptr));
  } else {
    LLMRT_ASSIGN_OR_RETURN(Buffer wide, Buffer::allocate(*device_, LLMRT_DTYPE_F32, host.size()));
    LLMRT_RETURN_IF_ERROR(device_->convert(wide.data(), LLMRT_DTYPE_F32, compute_params_.data(),
                                           compute_params_.dtype(), host.size(), nullptr));
    LLMRT_RETURN_IF_ERROR(device_->copy(host.data(), wide.data(), wide.bytes(), to_host, nullptr));
  }
  LLMRT_RETURN_IF_ERROR(device_->synchronize(nullptr));
  return host;
}

}  // namespace llmrt
