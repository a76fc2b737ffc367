// The host-owned parameters of one stage: every layer's parameters and gradients in two flat
// fp32 Buffers on the rank's device, tied parameters sharing one slot, initialised the same on
// any layout.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <llmrt/plugin.h>

#include "ckpt/model_tensors.h"
#include "device/buffer.h"
#include "exec/model_layers.h"
#include "util/status.h"

namespace llmrt {

// A run of the flat buffers whose fp32 master weights this rank keeps when they are sharded
// (ZeRO-1 under bf16/f16), and where it sits in the rank's (shard-sized) master buffer.
struct MasterPiece {
  std::size_t flat = 0;   // into the flat buffers, in elements
  std::size_t shard = 0;  // into master_buffer()
  std::size_t count = 0;
};

struct ParamEntry {
  std::string name;                   // checkpoint name: "gpt.block[3].qkv_w", or the tie name ("wte")
  std::vector<std::int64_t> global_shape;
  std::vector<std::int64_t> local_shape;  // this tensor-parallel rank's slice
  int shard_dim = LLMRT_NO_SHARD;
  llmrt_init_kind init = LLMRT_INIT_ZEROS;
  double init_scale = 0;
  std::size_t offset = 0;             // into the flat buffers, in elements
  std::size_t count = 0;
  bool tied = false;                  // name is a tie name: other layers (maybe other stages) share it
  int layer = 0;                      // model index of the (first on this stage) layer declaring it
  bool no_decay = false;              // its layer flagged it LLMRT_PARAM_NO_DECAY
  // LLMRT_PARAM_VOCAB_ROWS: rows [vocab_rows, global_shape[0]) are a padded vocabulary's, zero
  // (exec/vocab_rows.h); 0 = not flagged.
  std::int64_t vocab_rows = 0;
};

// Weights still arriving (ZeRO-1's all-gathers overlapped with the next forward): a reader waits
// for a layer's, or for all, before it reads them.
class WeightsInFlight {
 public:
  virtual ~WeightsInFlight() = default;
  virtual Status wait_slot(std::size_t slot) = 0;  // the buckets `slot`'s parameters lie in
  virtual Status wait_all() = 0;
};

// The checkpoint name of a layer's parameter: the tie name, else "label.name" ("gpt.block[3].qkv_w").
std::string param_entry_name(const LayerSlot& slot, const llmrt_param_spec& spec);
// The spec's LLMRT_PARAM_* flags (0 from a plugin whose spec has no flags field).
std::uint32_t param_spec_flags(const llmrt_param_spec& spec);

class ParamStore {
 public:
  // Lays out the slots' parameters (in layer order, ties merged) for tp rank `tp_rank` of
  // `tp_size`, in memory of `device` (which must outlive the store).
  // guard_gap > 0 (train.guard_params): that many canary elements before, between and after
  // the slices (exec/layer_checks.h), checked by canary_damage().
  static Result<ParamStore> build(const std::vector<LayerSlot>& slots, int tp_rank, int tp_size,
                                  ComputeDevice& device = cpu_device(), std::size_t guard_gap = 0);

  // Fills every parameter from its initialiser. Each parameter's values come from a generator
  // seeded by (seed, its name), drawn for the global tensor and then sliced, so every layout
  // and every stage holding a tied copy starts from the same numbers.
  Status initialize(std::uint64_t seed);

  // params, grads: (parameter_count) f32 each, on device().
  Buffer& param_buffer() { return params_; }
  Buffer& grad_buffer() { return grads_; }
  const Buffer& param_buffer() const { return params_; }
  const Buffer& grad_buffer() const { return grads_; }
  std::size_t parameter_count() const { return grads_.count(); }
  ComputeDevice& device() const { return *device_; }
  // Host views of the same buffers (CPU ranks: checkpoints, dumps, tests); params() is empty
  // once the master is sharded.
  std::span<float> params() { return params_.span<float>(); }
  std::span<float> grads() { return grads_.span<float>(); }
  std::span<const float> params() const { return params_.span<float>(); }
  std::span<const float> grads() const { return grads_.span<float>(); }
  Status zero_grads();

  // Sets every parameter from `tensors` (global shapes, fp32), sliced for this tp rank — a
  // checkpoint on another layout, an export, init_from. A tensor this store needs that is
  // missing, or of another shape, is an input error naming `source`, the tensor and both
  // shapes; one of another vocabulary padding is re-padded (exec/vocab_rows.h). Tensors this store does not hold are left to the caller (a rank holds a part).
  // Remakes the compute copy.
  Status load_global(const ModelTensors& tensors, const std::string& source);

  // Mixed precision: layers read a copy of the fp32 master weights in `dtype` (bf16 or f16),
  // made here and remade by refresh_compute_copy() after every update; gradients stay fp32.
  // With f32 the layers read the master weights themselves and no copy exists.
  Status use_compute_dtype(std::int32_t dtype);
  Status refresh_compute_copy();
  std::int32_t compute_dtype() const { return compute_params_.empty() ? LLMRT_DTYPE_F32 : compute_params_.dtype(); }

  // Sharded fp32 master (ZeRO-1 under bf16/f16; param_master.cpp): from here on the store keeps
  // the fp32 master of `pieces` only, in a (shard_count) f32 buffer, and frees the whole one;
  // the compute copy stays whole. refresh_compute_copy() then rounds the pieces alone into it
  // (the caller all-gathers the rest); load_global() sets the pieces and the whole compute copy.
  // Needs a compute copy (use_compute_dtype with bf16/f16 first).
  Status shard_master(std::vector<MasterPiece> pieces, std::size_t shard_count);
  bool master_sharded() const { return sharded_; }
  const std::vector<MasterPiece>& master_pieces() const { return pieces_; }
  // What the optimizer updates: the whole fp32 parameters, or this rank's pieces of them.
  Buffer& master_buffer() { return sharded_ ? master_ : params_; }
  const Buffer& master_buffer() const { return sharded_ ? master_ : params_; }
  std::size_t master_bytes() const { return master_buffer().bytes(); }  // fp32 master held here
  Buffer& compute_buffer() { return compute_params_; }  // (parameter_count) bf16/f16, or empty
  // Every weight in host fp32 as the layers read it: the master when it is whole, else the
  // compute copy widened (canary gaps included: NaN survives).
  Result<std::vector<float>> host_weights() const;

  // Readers of the weights outside a layer call (and the stage, before a layer's forward) wait
  // for what is in flight here; `in_flight` (nullptr: nothing) must outlive its registration.
  void set_in_flight(WeightsInFlight* in_flight) { in_flight_ = in_flight; }
  Status settle_slot(std::size_t slot) const { return in_flight_ ? in_flight_->wait_slot(slot) : Status::success(); }
  Status settle() const { return in_flight_ ? in_flight_->wait_all() : Status::success(); }

  const std::vector<ParamEntry>& entries() const { return entries_; }
  // The tensors a layer receives, in its param_specs order: weights in the compute dtype,
  // gradients in f32.
  std::vector<llmrt_tensor> param_tensors(std::size_t slot);
  std::vector<llmrt_tensor> grad_tensors(std::size_t slot);
  // The entries (indices into entries()) of a slot's parameters, in its param_specs order.
  const std::vector<std::size_t>& slot_entries(std::size_t slot) const { return slot_entries_.at(slot); }
  std::size_t slot_count() const { return slot_entries_.size(); }
  // The entry that holds `name`, or nullptr.
  const ParamEntry* find(const std::string& name) const;

  // Guarded stores (guard_gap > 0; param_canaries.cpp): "" while every canary holds its value
  // (NaN in the weights, 0 in the gradients), else what was overwritten, naming the parameter
  // whose slice it borders ("3 values past the end of 'x[1].w' ([64]) in the weights").
  std::size_t guard_gap() const { return gap_; }
  Result<std::string> canary_damage() const;

 private:
  ComputeDevice* device_ = &cpu_device();
  Buffer params_, grads_;
  Buffer compute_params_;  // (parameter_count) bf16/f16 copy of params_, or empty
  std::vector<ParamEntry> entries_;
  std::vector<std::vector<std::size_t>> slot_entries_;  // [slot] -> entry index per param spec
  int tp_rank_ = 0, tp_size_ = 1;
  std::size_t gap_ = 0;  // canary elements around each slice; 0 = unguarded
  WeightsInFlight* in_flight_ = nullptr;
  bool sharded_ = false;              // shard_master() was called: params_ is empty
  Buffer master_;                     // (shard count) f32: the pieces' fp32 master weights
  std::vector<MasterPiece> pieces_;   // in flat order
  Status fill_canaries();
  Status load_sharded(const ParamEntry& entry, const std::vector<float>& local);
  Status refresh_compute_pieces();
};

// "[768, 2304]"
std::string shape_text(const std::vector<std::int64_t>& shape);

// A contiguous fp32 CPU tensor view.
llmrt_tensor cpu_tensor(float* data, const std::vector<std::int64_t>& shape);
llmrt_tensor cpu_tensor_i32(std::int32_t* data, const std::vector<std::int64_t>& shape);
// A contiguous tensor view of `buffer` from element `offset`, with the buffer's device and dtype.
llmrt_tensor buffer_tensor(Buffer& buffer, const std::vector<std::int64_t>& shape, std::size_t offset = 0);

// The tp_rank-th of tp_size equal slices of `global` (row-major, `shape`) along `dim`.
std::vector<float> slice_along(const std::vector<float>& global, const std::vector<std::int64_t>& shape, int dim,
                               int tp_rank, int tp_size);

}  // namespace llmrt
