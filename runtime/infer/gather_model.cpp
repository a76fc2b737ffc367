#include "infer/gather_model.h"

#include <fmt/format.h>

#include "ckpt/tensor_shards.h"
#include "device/buffer.h"
#include "infer/inference_model.h"

namespace llmrt {
namespace {

// Whether this rank writes `entry` into the sum: one owner per value.
bool owns(const ParamEntry& entry, const RankCoords& coords, ProcessGroups& groups) {
  if (entry.shard_dim == LLMRT_NO_SHARD && coords.tp != 0) return false;
  if (!entry.tied) return true;
  Collectives* tie = groups.tie(entry.name);
  return tie == nullptr || tie->rank() == 0;  // the tie group is ordered by pipeline rank
}

}  // namespace

Result<std::optional<ModelTensors>> gather_model(const ModelSpec& model, const Registry& registry,
                                                 const ParamStore& params, ProcessGroups& groups) {
  const RankCoords& coords = groups.coords();
  if (coords.dp != 0) return std::optional<ModelTensors>();
  // The global layout: every parameter once, at its global shape, as a one-rank store lays it out.
  LLMRT_ASSIGN_OR_RETURN(std::vector<LayerSlot> slots, create_model_layers(model, registry));
  LLMRT_ASSIGN_OR_RETURN(ParamStore global, ParamStore::build(slots, 0, 1));
  std::vector<float> flat(global.parameter_count(), 0.0f);
  // fp32 as the layers read them (a sharded master: the compute copy widened).
  LLMRT_ASSIGN_OR_RETURN(std::vector<float> mine, params.host_weights());
  const int tp_size = static_cast<int>(groups.tensor_parallel().size());
  for (const ParamEntry& entry : params.entries()) {
    const ParamEntry* target = global.find(entry.name);
    if (target == nullptr) return runtime_error("gather: {} is not a parameter of the model", entry.name);
    if (!owns(entry, coords, groups)) continue;
    place_slice(std::span(flat).subspan(target->offset, target->count), target->global_shape, entry.shard_dim,
                coords.tp, tp_size, std::span<const float>(mine).subspan(entry.offset, entry.count));
  }
  // Sum over the replica's pp × tp ranks, in the rank's device memory (the groups' buffers).
  ComputeDevice& device = groups.device();
  LLMRT_ASSIGN_OR_RETURN(Buffer send, Buffer::allocate(device, LLMRT_DTYPE_F32, flat.size()));
  LLMRT_ASSIGN_OR_RETURN(Buffer sum, Buffer::allocate(device, LLMRT_DTYPE_F32, flat.size()));
  LLMRT_RETURN_IF_ERROR(device.copy(send.data(), flat.data(), send.bytes(), copy_kind(cpu_device().id(), send.location()), nullptr));
  LLMRT_RETURN_IF_ERROR(groups.model_parallel().all_reduce(send.data(), sum.data(), flat.size(), LLMRT_DTYPE_F32,
                                                            LLMRT_REDUCE_SUM, nullptr));
  if (groups.world_rank() != 0) return std::optional<ModelTensors>();
  LLMRT_RETURN_IF_ERROR(device.copy(flat.data(), sum.data(), sum.bytes(), copy_kind(sum.location(), cpu_device().id()), nullptr));
  LLMRT_RETURN_IF_ERROR(device.synchronize(nullptr));
  ModelTensors tensors;
  for (const ParamEntry& entry : global.entries()) {
    tensors[entry.name] = GlobalTensor{entry.global_shape,
                                       std::vector<float>(flat.begin() + static_cast<std::ptrdiff_t>(entry.offset),
                                                          flat.begin() + static_cast<std::ptrdiff_t>(entry.offset + entry.count))};
  }
  return std::optional<ModelTensors>(std::move(tensors));
}

}  // namespace llmrt
