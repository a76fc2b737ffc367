// Shared plumbing of the GPT-2 layers: the backend check (the seam where CUDA kernels will go),
// carving the host's saved buffer into named fp32 regions, and the tensor-parallel all-reduce.
#pragma once

#include <llmrt/plugin.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace llmrt::gpt {

// The only backend so far is fp32 on the CPU. A CUDA build adds a branch per device type in
// each layer's compute passes; until then any other device is refused here, and any other
// dtype by cpu_data(), both with LLMRT_UNIMPLEMENTED (not the user's mistake, a missing path).
inline void require_cpu(const llmrt_call_ctx& ctx, std::string_view where) {
  if (ctx.device.type != LLMRT_DEVICE_CPU) {
    throw PluginError(std::string(where) + ": only fp32 on the CPU is implemented, device type " +
                          std::to_string(ctx.device.type) + " is not yet",
                      LLMRT_UNIMPLEMENTED);
  }
}

// Where every GPT layer says it runs (Layer::supports): the CPU with f32 activations, and CUDA
// with f32, bf16 or f16, whose kernels exist in kernels/cuda. The layers' CUDA branch lands with
// the GPU issue (until then require_cpu refuses at the first forward); declaring CUDA now keeps
// `llmrt plan` and `llmrt check` working on the shipped GPU configs.
inline std::string gpt_supports(const llmrt_device& device, llmrt_dtype dtype) {
  switch (device.type) {
    case LLMRT_DEVICE_CPU:
      return dtype == LLMRT_DTYPE_F32 ? "" : "on the CPU only f32 activations are implemented";
    case LLMRT_DEVICE_CUDA:
      return dtype == LLMRT_DTYPE_F32 || dtype == LLMRT_DTYPE_BF16 || dtype == LLMRT_DTYPE_F16
                 ? ""
                 : "on CUDA only f32, bf16 and f16 activations are implemented";
    default: return "device type " + std::to_string(device.type) + " is unknown to the GPT layers";
  }
}

// Hands out consecutive fp32 regions of a buffer; with a null base it only counts, so
// saved_bytes() and the compute passes share one layout function and cannot disagree.
class FloatArena {
 public:
  explicit FloatArena(std::byte* base) : base_(reinterpret_cast<float*>(base)) {}
  float* take(int64_t count) {
    float* region = base_ != nullptr ? base_ + used_ : nullptr;
    used_ += static_cast<size_t>(count);
    return region;
  }
  size_t bytes() const { return used_ * sizeof(float); }

 private:
  float* base_;
  size_t used_ = 0;
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

// A parameter's fp32 data after checking it holds exactly the local slice this layer expects.
inline float* param_data(const llmrt_tensor& tensor, int64_t expected_numel, std::string_view name) {
  if (numel(tensor) != expected_numel) {
    throw PluginError(std::string(name) + ": expected " + std::to_string(expected_numel) + " elements, got " +
                      std::to_string(numel(tensor)));
  }
  return cpu_data<float>(tensor, name);
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

// The tensor-parallel size from the layer context; 0 (an unset context) means 1.
inline int64_t tp_size_of(const llmrt_layer_context& layer) { return layer.tp_size > 0 ? layer.tp_size : 1; }

}  // namespace llmrt::gpt
