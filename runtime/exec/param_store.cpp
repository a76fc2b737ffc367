#include "exec/param_store.h"
#include "exec/vocab_rows.h"
#include "plugin/host_tensors.h"

#include <algorithm>
#include <random>

#include <fmt/format.h>

namespace llmrt {
namespace {

std::uint64_t fnv1a(std::string_view text, std::uint64_t seed) {
  std::uint64_t hash = 1469598103934665603ull ^ seed;
  for (char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ull;
  }
  return hash;
}

std::size_t element_count(const std::vector<std::int64_t>& shape) {
  std::size_t count = 1;
  for (std::int64_t extent : shape) count *= static_cast<std::size_t>(extent);
  return count;
}

llmrt_tensor make_tensor(void* data, const std::vector<std::int64_t>& shape, llmrt_dtype dtype) {
  return host_tensor(data, dtype, shape);
}

Result<ParamEntry> entry_from_spec(const LayerSlot& slot, const llmrt_param_spec& spec, int tp_size) {
  ParamEntry entry;
  entry.name = param_entry_name(slot, spec);
  entry.layer = slot.index;
  entry.no_decay = (param_spec_flags(spec) & LLMRT_PARAM_NO_DECAY) != 0;
  entry.global_shape.assign(spec.shape, spec.shape + spec.rank);
  entry.local_shape = entry.global_shape;
  entry.shard_dim = spec.shard_dim;
  entry.init = static_cast<llmrt_init_kind>(spec.init);
  entry.init_scale = spec.init_scale;
  entry.tied = spec.tie_name != nullptr;
  LLMRT_ASSIGN_OR_RETURN(entry.vocab_rows, vocab_rows_of(slot, spec));
  if (spec.dtype != LLMRT_DTYPE_F32) {
    return runtime_error("{}: parameter {} is not fp32; the CPU parameter store holds fp32 only", slot.label,
                         spec.name);
  }
  if (spec.shard_dim != LLMRT_NO_SHARD) {
    if (spec.shard_dim < 0 || spec.shard_dim >= spec.rank) {
      return runtime_error("{}: parameter {} shards dimension {} of a rank-{} tensor", slot.label, spec.name,
                           spec.shard_dim, spec.rank);
    }
    std::int64_t& extent = entry.local_shape[static_cast<std::size_t>(spec.shard_dim)];
    if (extent % tp_size != 0) {
      return input_error("{}: parameter {} dimension {} = {} does not split into tp = {} equal parts", slot.label,
                         spec.name, spec.shard_dim, extent, tp_size);
    }
    extent /= tp_size;
  }
  entry.count = element_count(entry.local_shape);
  return entry;
}

}  // namespace

std::string param_entry_name(const LayerSlot& slot, const llmrt_param_spec& spec) {
  return spec.tie_name ? std::string(spec.tie_name) : fmt::format("{}.{}", slot.label, spec.name);
}

std::uint32_t param_spec_flags(const llmrt_param_spec& spec) {
  return LLMRT_HAS_FIELD(&spec, llmrt_param_spec, flags) ? spec.flags : 0u;
}

llmrt_tensor cpu_tensor(float* data, const std::vector<std::int64_t>& shape) {
  return make_tensor(data, shape, LLMRT_DTYPE_F32);
}

llmrt_tensor cpu_tensor_i32(std::int32_t* data, const std::vector<std::int64_t>& shape) {
  return make_tensor(data, shape, LLMRT_DTYPE_I32);
}

llmrt_tensor buffer_tensor(Buffer& buffer, const std::vector<std::int64_t>& shape, std::size_t offset) {
  void* data = static_cast<unsigned char*>(buffer.data()) + offset * dtype_size(buffer.dtype());
  llmrt_tensor tensor = make_tensor(data, shape, static_cast<llmrt_dtype>(buffer.dtype()));
  tensor.device = buffer.location();
  return tensor;
}

std::vector<float> slice_along(const std::vector<float>& global, const std::vector<std::int64_t>& shape, int dim,
                               int tp_rank, int tp_size) {
  if (dim == LLMRT_NO_SHARD || tp_size == 1) return global;
  std::size_t outer = 1, inner = 1;
  for (int d = 0; d < dim; ++d) outer *= static_cast<std::size_t>(shape[static_cast<std::size_t>(d)]);
  for (std::size_t d = static_cast<std::size_t>(dim) + 1; d < shape.size(); ++d) inner *= static_cast<std::size_t>(shape[d]);
  const std::size_t extent = static_cast<std::size_t>(shape[static_cast<std::size_t>(dim)]);
  const std::size_t part = extent / static_cast<std::size_t>(tp_size);
  std::vector<float> local;
  local.reserve(outer * part * inner);
  for (std::size_t o = 0; o < outer; ++o) {
    const float* block = global.data() + (o * extent + static_cast<std::size_t>(tp_rank) * part) * inner;
    local.insert(local.end(), block, block + part * inner);
  }
  return local;
}

Result<ParamStore> ParamStore::build(const std::vector<LayerSlot>& slots, int tp_rank, int tp_size,
                                     ComputeDevice& device, std::size_t guard_gap) {
  ParamStore store;
  store.gap_ = guard_gap;
  store.device_ = &device;
  store.tp_rank_ = tp_rank;
  store.tp_size_ = tp_size;
  std::size_t total = guard_gap;  // a canary gap before the first slice and after each one
  for (const LayerSlot& slot : slots) {
    std::vector<std::size_t> indices;
    for (const llmrt_param_spec& spec : slot.params) {
      LLMRT_ASSIGN_OR_RETURN(auto entry, entry_from_spec(slot, spec, tp_size));
      auto existing = std::find_if(store.entries_.begin(), store.entries_.end(),
                                   [&](const ParamEntry& e) { return e.name == entry.name; });
      if (existing != store.entries_.end()) {
        if (!spec.tie_name || existing->global_shape != entry.global_shape) {
          return runtime_error("{}: parameter '{}' is declared twice with different shapes or without a tie",
                               slot.label, entry.name);
        }
        indices.push_back(static_cast<std::size_t>(existing - store.entries_.begin()));
        continue;
      }
      entry.offset = total;
      total += entry.count + guard_gap;
      indices.push_back(store.entries_.size());
      store.entries_.push_back(std::move(entry));
    }
    store.slot_entries_.push_back(std::move(indices));
  }
  LLMRT_ASSIGN_OR_RETURN_CTX(store.params_, Buffer::zeros(device, LLMRT_DTYPE_F32, total), "parameters");
  LLMRT_ASSIGN_OR_RETURN_CTX(store.grads_, Buffer::zeros(device, LLMRT_DTYPE_F32, total), "gradients");
  if (guard_gap > 0) LLMRT_RETURN_IF_ERROR(store.fill_canaries());
  return store;
}

Status ParamStore::initialize(std::uint64_t seed) {
  if (sharded_) return runtime_error("initialize: the fp32 master weights are sharded; use load_global");
  for (const ParamEntry& entry : entries_) {
    const std::size_t global_count = element_count(entry.global_shape);
    std::vector<float> global(global_count, entry.init == LLMRT_INIT_ONES ? 1.0f : 0.0f);
    std::mt19937_64 generator(fnv1a(entry.name, seed));
    if (entry.init == LLMRT_INIT_NORMAL) {
      std::normal_distribution<double> normal(0.0, entry.init_scale);
      for (float& value : global) value = static_cast<float>(normal(generator));
    } else if (entry.init == LLMRT_INIT_UNIFORM) {
      std::uniform_real_distribution<double> uniform(-entry.init_scale, entry.init_scale);
      for (float& value : global) value = static_cast<float>(uniform(generator));
    }
    // The same draws as an unpadded tensor's in the real rows; the padded ones start (and stay) zero.
    zero_padded_rows(global, entry.global_shape, entry.vocab_rows);
    const std::vector<float> local = slice_along(global, entry.global_shape, entry.shard_dim, tp_rank_, tp_size_);
    LLMRT_RETURN_IF_ERROR_CTX(device_->copy(params_.data_as<float>() + entry.offset, local.data(),
                                            local.size() * sizeof(float),
                                            copy_kind(cpu_device().id(), device_->id()), nullptr),
                              "initializing {}", entry.name);
  }
  return device_->synchronize(nullptr);
}

Status ParamStore::zero_grads() { return grads_.zero(); }

Status ParamStore::load_global(const ModelTensors& tensors, const std::string& source) {
  for (const ParamEntry& entry : entries_) {
    auto found = tensors.find(entry.name);
    if (found == tensors.end()) {
      return input_error("{}: has no tensor {} (this model's is {})", source, entry.name,
                         shape_text(entry.global_shape));
    }
    const GlobalTensor* tensor = &found->second;
    GlobalTensor repadded;  // another vocabulary padding's rows, fitted to this model's
    if (tensor->shape != entry.global_shape) {
      repadded = *tensor;
      LLMRT_RETURN_IF_ERROR(fit_vocab_rows(repadded, entry, source, "tensor " + entry.name));
      tensor = &repadded;
    }
    const std::vector<float> local = slice_along(tensor->values, entry.global_shape, entry.shard_dim, tp_rank_, tp_size_);
    if (sharded_) {
      LLMRT_RETURN_IF_ERROR_CTX(load_sharded(entry, local), "loading {}", entry.name);
      continue;
    }
    LLMRT_RETURN_IF_ERROR_CTX(device_->copy(params_.data_as<float>() + entry.offset, local.data(),
                                            local.size() * sizeof(float),
                                            copy_kind(cpu_device().id(), device_->id()), nullptr),
                              "loading {}", entry.name);
  }
  LLMRT_RETURN_IF_ERROR(device_->synchronize(nullptr));
  return sharded_ ? Status::success() : refresh_compute_copy();  // sharded: load_sharded made it whole
}

Status ParamStore::use_compute_dtype(std::int32_t dtype) {
  if (dtype == LLMRT_DTYPE_F32 && !sharded_) {
    compute_params_ = Buffer();
    return Status::success();
  }
  if (sharded_) return runtime_error("the compute dtype cannot change once the fp32 master weights are sharded");
  LLMRT_RETURN_IF_ERROR_CTX(compute_params_.resize(*device_, dtype, parameter_count()), "the {} copy of the weights",
                            dtype_name(dtype));
  return refresh_compute_copy();
}

Status ParamStore::refresh_compute_copy() {
  if (compute_params_.empty()) return Status::success();
  if (sharded_) return refresh_compute_pieces();
  return device_->convert(compute_params_.data(), compute_params_.dtype(), params_.data(), LLMRT_DTYPE_F32,
                          params_.count(), nullptr);
}

std::vector<llmrt_tensor> ParamStore::param_tensors(std::size_t slot) {
  std::vector<llmrt_tensor> tensors;
  for (std::size_t index : slot_entries_.at(slot)) {
    const ParamEntry& entry = entries_[index];
    tensors.push_back(buffer_tensor(compute_params_.empty() ? params_ : compute_params_, entry.local_shape, entry.offset));
  }
  return tensors;
}

std::vector<llmrt_tensor> ParamStore::grad_tensors(std::size_t slot) {
  std::vector<llmrt_tensor> tensors;
  for (std::size_t index : slot_entries_.at(slot)) {
    const ParamEntry& entry = entries_[index];
    tensors.push_back(buffer_tensor(grads_, entry.local_shape, entry.offset));
  }
  return tensors;
}

const ParamEntry* ParamStore::find(const std::string& name) const {
  auto it = std::find_if(entries_.begin(), entries_.end(), [&](const ParamEntry& e) { return e.name == name; });
  return it == entries_.end() ? nullptr : &*it;
}

std::string shape_text(const std::vector<std::int64_t>& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

}  // namespace llmrt
