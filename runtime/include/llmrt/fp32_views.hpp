// Mixed precision for CPU layers: a layer whose kernels are fp32 runs bf16/f16 tensors through
// fp32 views. read() widens an input (at f32: the tensor's own memory, no copy), write() hands
// out an fp32 buffer for an output and commit() rounds it into the tensor (at f32: the tensor's
// own memory again). So one code path serves every precision, and at f32 it costs nothing.
#pragma once

#include <llmrt/half.hpp>
#include <llmrt/plugin_support.hpp>

#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace llmrt {
inline namespace plugin_v1 {

class Fp32Views {
 public:
  Fp32Views() = default;
  Fp32Views(const Fp32Views&) = delete;
  Fp32Views& operator=(const Fp32Views&) = delete;

  // A contiguous CPU tensor of f32, bf16 or f16 as fp32 values, valid while this object lives.
  const float* read(const llmrt_tensor& tensor, std::string_view what) {
    if (tensor.dtype == LLMRT_DTYPE_F32) return cpu_data<float>(tensor, what);
    const void* stored = stored_data(tensor, what);
    std::vector<float>& wide = copies_.emplace_back(static_cast<size_t>(numel(tensor)));
    to_float(wide.data(), stored, tensor.dtype, wide.size());
    return wide.data();
  }

  // An fp32 buffer whose values land in `tensor` (f32, bf16 or f16) at commit(). The buffer
  // starts as a copy of the tensor, so a `+=` kernel may write it.
  float* write(const llmrt_tensor& tensor, std::string_view what) {
    if (tensor.dtype == LLMRT_DTYPE_F32) return cpu_data<float>(tensor, what);
    float* wide = const_cast<float*>(read(tensor, what));
    pending_.push_back(Pending{wide, tensor});
    return wide;
  }

  // Rounds every write() buffer into its tensor. Call once, after the kernels.
  void commit() {
    for (const Pending& pending : pending_) {
      from_float(pending.tensor.data, pending.wide, pending.tensor.dtype, static_cast<size_t>(numel(pending.tensor)));
    }
    pending_.clear();
  }

 private:
  struct Pending {
    float* wide;
    llmrt_tensor tensor;
  };
  static const void* stored_data(const llmrt_tensor& tensor, std::string_view what) {
    std::string name(what);
    if (tensor.dtype != LLMRT_DTYPE_BF16 && tensor.dtype != LLMRT_DTYPE_F16) {
      throw PluginError(name + ": unsupported dtype " + std::to_string(tensor.dtype), LLMRT_UNIMPLEMENTED);
    }
    if (tensor.device.type != LLMRT_DEVICE_CPU) throw PluginError(name + ": not on the CPU", LLMRT_UNIMPLEMENTED);
    if (!is_contiguous(tensor)) throw PluginError(name + ": not contiguous", LLMRT_UNIMPLEMENTED);
    if (tensor.data == nullptr && numel(tensor) > 0) throw PluginError(name + ": no data", LLMRT_INTERNAL);
    return tensor.data;
  }

  std::deque<std::vector<float>> copies_;  // stable addresses
  std::vector<Pending> pending_;
};

}  // namespace plugin_v1
}  // namespace llmrt
