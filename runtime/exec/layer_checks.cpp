#include "exec/layer_checks.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <vector>

#include <fmt/format.h>

#include "device/dtype.h"
#include "plugin/plugin_guard.h"

namespace llmrt {
namespace {

std::size_t element_count(const llmrt_tensor& tensor) {
  std::size_t count = 1;
  for (int d = 0; d < tensor.rank; ++d) count *= static_cast<std::size_t>(tensor.shape[d]);
  return count;
}

std::vector<std::int64_t> dims(const llmrt_tensor& tensor) {
  return std::vector<std::int64_t>(tensor.shape, tensor.shape + tensor.rank);
}

// The tensor's values in host memory: its own on the CPU, a copy from a device.
Result<const void*> host_view(const llmrt_tensor& tensor, ComputeDevice& device, std::vector<std::byte>& copy) {
  if (tensor.device.type == LLMRT_DEVICE_CPU) return static_cast<const void*>(tensor.data);
  copy.resize(element_count(tensor) * dtype_size(tensor.dtype));
  LLMRT_RETURN_IF_ERROR(device.copy(copy.data(), tensor.data, copy.size(), copy_kind(device.id(), cpu_device().id()),
                                    nullptr));
  LLMRT_RETURN_IF_ERROR(device.synchronize(nullptr));
  return static_cast<const void*>(copy.data());
}

std::string value_text(const void* data, std::int32_t dtype, std::size_t index) {
  if (dtype == LLMRT_DTYPE_F32) return fmt::format("{}", static_cast<const float*>(data)[index]);
  const std::uint16_t bits = static_cast<const std::uint16_t*>(data)[index];
  const std::uint16_t mantissa = dtype == LLMRT_DTYPE_BF16 ? (bits & 0x7f) : (bits & 0x3ff);
  return mantissa != 0 ? "nan" : (bits & 0x8000) ? "-inf" : "inf";
}

// The first non-finite value among `tensors`, described ("nan into its output (f32 [4, 64, 256],
// element 7)"), or "" when all are finite.
Result<std::string> first_anomaly(std::span<const llmrt_tensor> tensors, ComputeDevice& device,
                                  const std::function<std::string(std::size_t)>& role) {
  std::vector<std::byte> copy;
  for (std::size_t t = 0; t < tensors.size(); ++t) {
    const llmrt_tensor& tensor = tensors[t];
    const std::size_t count = element_count(tensor);
    if (tensor.data == nullptr || count == 0) continue;
    LLMRT_ASSIGN_OR_RETURN(const void* values, host_view(tensor, device, copy));
    const std::size_t bad = first_non_finite(values, tensor.dtype, count);
    if (bad == count) continue;
    return fmt::format("{} into {} ({} {}, element {})", value_text(values, tensor.dtype, bad), role(t),
                       dtype_name(tensor.dtype), shape_text(dims(tensor)), bad);
  }
  return std::string();
}

}  // namespace

std::size_t first_non_finite(const void* data, std::int32_t dtype, std::size_t count) {
  if (dtype == LLMRT_DTYPE_F32) {
    const float* values = static_cast<const float*>(data);
    for (std::size_t i = 0; i < count; ++i) {
      if (!std::isfinite(values[i])) return i;
    }
    return count;
  }
  if (dtype != LLMRT_DTYPE_BF16 && dtype != LLMRT_DTYPE_F16) return count;  // integers are always finite
  const std::uint16_t exponent = dtype == LLMRT_DTYPE_BF16 ? 0x7f80 : 0x7c00;
  const std::uint16_t* values = static_cast<const std::uint16_t*>(data);
  for (std::size_t i = 0; i < count; ++i) {
    if ((values[i] & exponent) == exponent) return i;
  }
  return count;
}

Status LayerCallChecks::after_call(const LayerSlot& layer, std::string_view pass, int microbatch,
                                   std::span<const llmrt_tensor> outputs,
                                   std::span<const llmrt_tensor> grad_params, const ParamStore& params,
                                   ComputeDevice& device) const {
  if (!active()) return Status::success();
  const std::string who = fmt::format("layer {} (component '{}', plugin {})", layer.label, layer.component->name,
                                      layer.component->plugin->path);
  if (guard_params) {
    LLMRT_ASSIGN_OR_RETURN(const std::string damage, params.canary_damage());
    if (!damage.empty()) {
      return runtime_error("train.guard_params: {} wrote outside its parameter slices during {}: {}; {}", who, pass,
                           damage, plugin_call_site(microbatch));
    }
  }
  LLMRT_ASSIGN_OR_RETURN(std::string anomaly, first_anomaly(outputs, device, [&](std::size_t) {
    return std::string(pass == "forward" ? "its output" : "the gradient w.r.t. its input");
  }));
  if (anomaly.empty()) {
    LLMRT_ASSIGN_OR_RETURN(anomaly, first_anomaly(grad_params, device, [&](std::size_t k) {
      return fmt::format("the gradient of its parameter '{}'", k < layer.params.size() ? layer.params[k].name : "?");
    }));
  }
  if (anomaly.empty()) return Status::success();
  return runtime_error("train.detect_anomaly: {} wrote {} in {}, {} (the first layer call to make a NaN or Inf: "
                       "every earlier call's outputs were finite)", who, anomaly, pass, plugin_call_site(microbatch));
}

}  // namespace llmrt
