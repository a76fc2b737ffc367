// Shared plumbing of the GPT-2 layers (whose CPU passes compute through the host's op table,
// llmrt/ops.hpp, like any third party's layer): the backend check (the seam where CUDA kernels will go),
// carving the host's saved buffer into regions at the compute dtype, and the tensor-parallel
// all-reduce. On the CPU every precision runs the fp32 kernels: bf16/f16 tensors are widened on
// the way in and rounded on the way out (llmrt/fp32_views.hpp), at the points where a GPU run
// stores them in 16 bits.
#pragma once

#include <llmrt/fp32_views.hpp>
#include <llmrt/half.hpp>
#include <llmrt/ops.hpp>
#include <llmrt/plugin.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace llmrt::gpt {

// The backends: the CPU (fp32 arithmetic, f32/bf16/f16 storage) and, in builds with CUDA
// (LLMRT_HAVE_CUDA), CUDA at f32, bf16 or f16 through kernels/cuda (the *_cuda.cpp files). Each compute pass
// takes its CUDA branch first where there is one; anything that reaches the CPU path on another
// device is refused here with LLMRT_UNIMPLEMENTED (not the user's mistake, a missing path).
inline void require_cpu(const llmrt_call_ctx& ctx, std::string_view where) {
  if (ctx.device.type != LLMRT_DEVICE_CPU) {
    throw PluginError(std::string(where) + ": device type " + std::to_string(ctx.device.type) +
                          (ctx.device.type == LLMRT_DEVICE_CUDA ? " (CUDA) needs a plugin built with CUDA"
                                                                : " has no implementation"),
                      LLMRT_UNIMPLEMENTED);
  }
}

// Where every GPT layer says it runs (Layer::supports): the CPU and CUDA, each with f32, bf16 or
// f16 activations (on CUDA the kernels/cuda templates: that storage, fp32 accumulation).
inline std::string gpt_supports(const llmrt_device& device, llmrt_dtype dtype) {
  const bool stored = dtype == LLMRT_DTYPE_F32 || dtype == LLMRT_DTYPE_BF16 || dtype == LLMRT_DTYPE_F16;
  switch (device.type) {
    case LLMRT_DEVICE_CPU: return stored ? "" : "on the CPU only f32, bf16 and f16 activations are implemented";
    case LLMRT_DEVICE_CUDA: return stored ? "" : "on CUDA only f32, bf16 and f16 activations are implemented";
    default: return "device type " + std::to_string(device.type) + " is unknown to the GPT layers";
  }
}

// Bytes a saved region of `count` values of `dtype` takes: every region starts 4-byte aligned.
// The one rule SavedRegions and DeviceRegions share, so both see the same layout.
inline size_t region_bytes(int64_t count, int32_t dtype) {
  return (static_cast<size_t>(count) * (dtype == LLMRT_DTYPE_F32 ? 4 : 2) + 3) / 4 * 4;
}

// The saved buffer carved into regions, in the order they are taken. Activations are stored as
// the layer's compute dtype (what a GPU run keeps), statistics (means, rstds, log-sum-exps) as
// f32. Every region is handed out as fp32 memory: the saved bytes themselves where they are f32,
// else an fp32 copy that load() fills from the buffer and store() rounds back into it. With a
// null base it only counts, so saved_bytes() and the compute passes share one layout function.
class SavedRegions {
 public:
  SavedRegions(std::byte* base, int32_t dtype) : base_(base), dtype_(dtype) {}
  SavedRegions(const SavedRegions&) = delete;
  SavedRegions& operator=(const SavedRegions&) = delete;

  float* activation(int64_t count) { return take(count, dtype_); }
  float* stat(int64_t count) { return take(count, LLMRT_DTYPE_F32); }
  size_t bytes() const { return used_; }
  size_t taken() const { return regions_.size(); }  // regions so far: the bounds for load/store
  size_t offset(size_t region) const { return regions_.at(region).offset; }  // bytes into the buffer

  // Widens regions [first, last) from the buffer into their fp32 copies.
  void load(size_t first, size_t last) {
    for (size_t r = first; r < last && r < regions_.size(); ++r) {
      const Region& region = regions_[r];
      if (region.copy != nullptr) to_float(region.copy, base_ + region.offset, dtype_, region.count);
    }
  }
  // Rounds regions [first, last) from their fp32 copies into the buffer.
  void store(size_t first, size_t last) {
    for (size_t r = first; r < last && r < regions_.size(); ++r) {
      const Region& region = regions_[r];
      if (region.copy != nullptr) from_float(base_ + region.offset, region.copy, dtype_, region.count);
    }
  }
  // What storing `count` values of an activation keeps: call it where the values are made, so
  // the pass goes on with the numbers a 16-bit buffer would hand the next kernel.
  void round(float* data, int64_t count) const { round_to(data, dtype_, static_cast<size_t>(count)); }

 private:
  struct Region {
    size_t offset;  // bytes into the buffer
    size_t count;
    float* copy;    // the fp32 copy of a 16-bit region, or nullptr (the region is fp32 in place)
  };
  float* take(int64_t count, int32_t dtype) {
    const size_t n = static_cast<size_t>(count);
    const size_t offset = used_;
    used_ += region_bytes(count, dtype);
    if (base_ == nullptr) return nullptr;
    if (dtype == LLMRT_DTYPE_F32) {
      regions_.push_back(Region{offset, n, nullptr});
      return reinterpret_cast<float*>(base_ + offset);
    }
    float* copy = copies_.emplace_back(n).data();
    regions_.push_back(Region{offset, n, copy});
    return copy;
  }

  std::byte* base_;
  int32_t dtype_;
  size_t used_ = 0;
  std::vector<Region> regions_;
  std::deque<std::vector<float>> copies_;
};

// The same layout over a buffer the host cannot read (device memory): regions are handed out in
// place, activations as `Act*` (the compute dtype's storage type on CUDA: float, bf16 or f16)
// and statistics as float*, at the offsets SavedRegions gives them. No copies, no load/store/round: the device
// kernels read and write the stored dtype themselves. A layer's one layout function is a
// template over the regions type, so both see the same carving.
template <typename Act>
class DeviceRegions {
 public:
  explicit DeviceRegions(std::byte* base) : base_(base) {}
  DeviceRegions(const DeviceRegions&) = delete;
  DeviceRegions& operator=(const DeviceRegions&) = delete;

  Act* activation(int64_t count) {
    static_assert(sizeof(Act) == 2 || sizeof(Act) == 4, "device activations are f32, bf16 or f16");
    return static_cast<Act*>(take(count, sizeof(Act) == 4 ? LLMRT_DTYPE_F32 : LLMRT_DTYPE_BF16));
  }
  float* stat(int64_t count) { return static_cast<float*>(take(count, LLMRT_DTYPE_F32)); }
  size_t bytes() const { return used_; }
  size_t taken() const { return taken_; }

 private:
  void* take(int64_t count, int32_t dtype) {
    const size_t offset = used_;
    used_ += region_bytes(count, dtype);
    ++taken_;
    return base_ == nullptr ? nullptr : base_ + offset;
  }

  std::byte* base_;
  size_t used_ = 0, taken_ = 0;
};

// The host sized `saved` from saved_bytes(); anything smaller is the host's bug, not the user's.
inline void check_saved(Saved saved, size_t needed, std::string_view layer) {
  if (saved.size() < needed || (needed > 0 && saved.data() == nullptr)) {
    throw PluginError(std::string(layer) + ": saved buffer holds " + std::to_string(saved.size()) +
                          " bytes, the layout needs " + std::to_string(needed),
                      LLMRT_INTERNAL);
  }
}

// Sums `count` floats of `partial` over the tensor-parallel group into `total` (distinct
// buffers). A group of one copies, so the tp = 1 path runs the same code.
inline void tp_all_reduce(const llmrt_host_api* host, const llmrt_call_ctx& ctx, const float* partial,
                          float* total, size_t count, std::string_view what) {
  llmrt_status* status =
      host->all_reduce(ctx.tp_comm, partial, total, count, LLMRT_DTYPE_F32, LLMRT_REDUCE_SUM, ctx.stream);
  if (status == nullptr) return;
  PluginError error(std::string(what) + ": all_reduce: " + host->status_message(status), host->status_code(status));
  host->status_free(status);
  throw error;
}

inline void check_numel(const llmrt_tensor& tensor, int64_t expected_numel, std::string_view name) {
  if (numel(tensor) != expected_numel) {
    throw PluginError(std::string(name) + ": expected " + std::to_string(expected_numel) + " elements, got " +
                      std::to_string(numel(tensor)));
  }
}

// A parameter gradient's fp32 data (gradients are f32 at every precision) after checking it
// holds exactly the local slice this layer expects.
inline float* param_data(const llmrt_tensor& tensor, int64_t expected_numel, std::string_view name) {
  check_numel(tensor, expected_numel, name);
  return cpu_data<float>(tensor, name);
}

// A weight as fp32 values, whatever the compute dtype it arrives in (views owns any copy).
inline const float* weight_data(Fp32Views& views, const llmrt_tensor& tensor, int64_t expected_numel,
                                std::string_view name) {
  check_numel(tensor, expected_numel, name);
  return views.read(tensor, name);
}

// (B, T) of an activation (B, T, C) or token tensor (B, T), checking its rank.
struct BatchShape {
  int64_t batch;
  int64_t seq;
  int64_t rows() const { return batch * seq; }
};
inline BatchShape batch_shape(const llmrt_tensor& tensor, int32_t rank, std::string_view name) {
  if (tensor.rank != rank) {
    throw PluginError(std::string(name) + ": expected rank " + std::to_string(rank) + ", got " +
                      std::to_string(tensor.rank));
  }
  return BatchShape{tensor.shape[0], tensor.shape[1]};
}

inline void require_positive(int64_t value, std::string_view key) {
  if (value <= 0) throw PluginError(std::string(key) + " must be positive, found " + std::to_string(value));
}

// The widest residual stream the GPT layers take: 8× GPT-3's 12288 and more than any published
// model, and small enough that every byte count of a layer (microbatch × seq_len × 4·d_model ×
// 4 bytes, with the config's own limits on the first two) stays exact in 64 bits.
constexpr int64_t kMaxModelWidth = int64_t{1} << 17;

inline void require_width(int64_t value, std::string_view key) {
  require_positive(value, key);
  if (value > kMaxModelWidth) {
    throw PluginError(std::string(key) + " must be at most " + std::to_string(kMaxModelWidth) + ", found " +
                      std::to_string(value));
  }
}

// The most rows the padded vocabulary rounds up to (the [model] key's own limit, config/limits.h).
constexpr int64_t kMaxVocabPadMultiple = 65536;

// The key gpt.embedding and gpt.head declare beside vocab_size, filled from [model] the same way.
inline ConfigKey vocab_pad_key() {
  return {"vocab_pad_multiple", LLMRT_KEY_INT, "1",
          "rows of wte / lm_head_w: vocab_size rounded up to a multiple of it (filled from [model])"};
}

// Rows of the vocabulary tensors and columns of the logits GEMM: vocab rounded up to
// `multiple` (llm.c's 50257 -> 50304 at 128); 1 keeps vocab.
inline int64_t padded_vocab_of(int64_t vocab, int64_t multiple) {
  if (multiple < 1 || multiple > kMaxVocabPadMultiple) {
    throw PluginError("vocab_pad_multiple must be in [1, " + std::to_string(kMaxVocabPadMultiple) + "], found " +
                      std::to_string(multiple));
  }
  if (vocab > (int64_t{1} << 40)) throw PluginError("vocab_size " + std::to_string(vocab) + " is too large");
  return (vocab + multiple - 1) / multiple * multiple;
}

// What activations are stored as, from the layer context: f32, bf16 or f16 (unset means f32).
inline int32_t compute_dtype_of(const llmrt_layer_context& layer) {
  if (layer.compute_dtype == 0) return LLMRT_DTYPE_F32;
  if (!is_float_storage(layer.compute_dtype)) {
    throw PluginError("compute dtype " + std::to_string(layer.compute_dtype) + " is not f32, bf16 or f16",
                      LLMRT_UNIMPLEMENTED);
  }
  return layer.compute_dtype;
}

// The tensor-parallel size from the layer context; 0 (an unset context) means 1.
inline int64_t tp_size_of(const llmrt_layer_context& layer) { return layer.tp_size > 0 ? layer.tp_size : 1; }

}  // namespace llmrt::gpt
