// Header-only C++ helpers under plugin.hpp: errors that become statuses, typed access to a
// component's config, and small tensor helpers. Nothing here crosses the C boundary.
#pragma once

#include <llmrt/plugin.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace llmrt {
inline namespace plugin_v1 {

// Thrown by a component for a failure with a specific code; any other exception reaching the
// boundary becomes LLMRT_INTERNAL with its what().
class PluginError : public std::runtime_error {
 public:
  explicit PluginError(const std::string& message, int32_t code = LLMRT_INVALID_ARGUMENT)
      : std::runtime_error(message), code_(code) {}
  int32_t code() const { return code_; }

 private:
  int32_t code_;
};

// A config key a component declares; default_value is a TOML literal, nullopt = required.
struct ConfigKey {
  std::string name;
  llmrt_key_type type;
  std::optional<std::string> default_value;
  std::string doc;
};

// Typed, checked access to the resolved config the host passes at create.
class ComponentConfig {
 public:
  explicit ComponentConfig(const llmrt_config* config) : config_(config) {}

  bool get_bool(std::string_view name) const { return find(name, LLMRT_KEY_BOOL).boolean != 0; }
  int64_t get_int(std::string_view name) const { return find(name, LLMRT_KEY_INT).integer; }
  double get_float(std::string_view name) const { return find(name, LLMRT_KEY_FLOAT).number; }
  std::string get_string(std::string_view name) const { return find(name, LLMRT_KEY_STRING).string; }
  std::vector<double> get_floats(std::string_view name) const {
    const auto& v = find(name, LLMRT_KEY_FLOAT_LIST);
    return std::vector<double>(v.numbers, v.numbers + v.count);
  }
  std::vector<int64_t> get_ints(std::string_view name) const {
    const auto& v = find(name, LLMRT_KEY_INT_LIST);
    return std::vector<int64_t>(v.integers, v.integers + v.count);
  }
  std::vector<std::string> get_strings(std::string_view name) const {
    const auto& v = find(name, LLMRT_KEY_STRING_LIST);
    return std::vector<std::string>(v.strings, v.strings + v.count);
  }

 private:
  const llmrt_config_value& find(std::string_view name, llmrt_key_type type) const {
    if (config_ != nullptr) {
      for (size_t i = 0; i < config_->count; ++i) {
        const llmrt_config_value& value = config_->values[i];
        if (name != value.name) continue;
        if (value.type != type) {
          throw PluginError("config key '" + std::string(name) + "' read with the wrong type",
                            LLMRT_INTERNAL);
        }
        return value;
      }
    }
    // The host resolves every declared key, so this is a key the component forgot to declare.
    throw PluginError("config key '" + std::string(name) + "' was not declared", LLMRT_INTERNAL);
  }

  const llmrt_config* config_;
};

// What every component's constructor receives.
struct ComponentArgs {
  const llmrt_host_api* host;
  ComponentConfig config;
  llmrt_layer_context layer;  // zero for components other than layers
};

// ------------------------------------------------------------------------------ tensors
inline int64_t numel(const llmrt_tensor& tensor) {
  int64_t count = 1;
  for (int32_t i = 0; i < tensor.rank; ++i) count *= tensor.shape[i];
  return count;
}

// A contiguous, row-major CPU tensor over `data` (NULL: a shape description).
inline llmrt_tensor contiguous_tensor(void* data, llmrt_dtype dtype, std::span<const int64_t> shape) {
  llmrt_tensor tensor{};
  tensor.struct_size = sizeof(llmrt_tensor);
  tensor.dtype = dtype;
  tensor.rank = static_cast<int32_t>(shape.size());
  int64_t stride = 1;
  for (int32_t d = tensor.rank - 1; d >= 0; --d) {
    tensor.shape[d] = shape[static_cast<size_t>(d)];
    tensor.strides[d] = stride;
    stride *= tensor.shape[d];
  }
  tensor.device = llmrt_device{LLMRT_DEVICE_CPU, 0};
  tensor.data = data;
  return tensor;
}

// A contiguous, row-major shape description (data NULL), for infer_shapes.
inline llmrt_tensor tensor_shape(llmrt_dtype dtype, std::initializer_list<int64_t> shape) {
  return contiguous_tensor(nullptr, dtype, std::span<const int64_t>(shape.begin(), shape.size()));
}

inline bool is_contiguous(const llmrt_tensor& tensor) {
  int64_t stride = 1;
  for (int32_t d = tensor.rank - 1; d >= 0; --d) {
    if (tensor.shape[d] != 1 && tensor.strides[d] != stride) return false;
    stride *= tensor.shape[d];
  }
  return true;
}

template <typename T>
constexpr llmrt_dtype dtype_of() {
  if constexpr (std::is_same_v<T, float>) return LLMRT_DTYPE_F32;
  else if constexpr (std::is_same_v<T, int32_t>) return LLMRT_DTYPE_I32;
  else if constexpr (std::is_same_v<T, int64_t>) return LLMRT_DTYPE_I64;
  else static_assert(sizeof(T) == 0, "no llmrt dtype for this element type");
}

// The data of a contiguous CPU tensor of element type T; throws a PluginError naming `what`
// when the tensor is something else.
template <typename T>
T* cpu_data(const llmrt_tensor& tensor, std::string_view what) {
  std::string name(what);
  if (tensor.dtype != dtype_of<T>()) {
    throw PluginError(name + ": unsupported dtype " + std::to_string(tensor.dtype), LLMRT_UNIMPLEMENTED);
  }
  if (tensor.device.type != LLMRT_DEVICE_CPU) throw PluginError(name + ": not on the CPU", LLMRT_UNIMPLEMENTED);
  if (!is_contiguous(tensor)) throw PluginError(name + ": not contiguous", LLMRT_UNIMPLEMENTED);
  if (tensor.data == nullptr && numel(tensor) > 0) throw PluginError(name + ": no data", LLMRT_INTERNAL);
  return static_cast<T*>(tensor.data);
}

// A layer's supports() answer for the C ABI's default: "" for the CPU with f32 activations,
// else the reason.
inline std::string cpu_f32_only(const llmrt_device& device, llmrt_dtype dtype) {
  if (device.type == LLMRT_DEVICE_CPU && dtype == LLMRT_DTYPE_F32) return "";
  return "runs on the CPU with f32 activations only";
}

// Throws unless `count` tensors were passed where `expected` are needed.
inline void expect_count(size_t count, size_t expected, std::string_view what) {
  if (count != expected) {
    throw PluginError(std::string(what) + ": expected " + std::to_string(expected) + " tensors, got " +
                      std::to_string(count));
  }
}

// ------------------------------------------------------------------------------ optimizer table
inline size_t dtype_bytes(int32_t dtype) {
  switch (dtype) {
    case LLMRT_DTYPE_BF16: case LLMRT_DTYPE_F16: return 2;
    case LLMRT_DTYPE_I64: return 8;
    case LLMRT_DTYPE_U8: return 1;
    default: return 4;
  }
}

// True when the call holds all of the entry's tensor (always, unless ZeRO-1 split it).
inline bool covers_whole(const llmrt_optimizer_param& p) { return p.tensor_offset == 0 && p.count == p.numel; }

// The elements of flat buffer `flat` (params, grads or a state) that table entry `p` covers: the
// local shape when the call holds the whole tensor, else (p.count) flat. Same device and dtype.
inline llmrt_tensor param_part(const llmrt_tensor& flat, const llmrt_optimizer_param& p) {
  if (p.buffer_offset < 0 || p.count < 0 || p.buffer_offset + p.count > numel(flat)) {
    throw PluginError(std::string("parameter table entry '") + (p.name ? p.name : "?") + "' lies outside the buffer",
                      LLMRT_INTERNAL);
  }
  llmrt_tensor part = flat;
  part.data = flat.data == nullptr ? nullptr
                                   : static_cast<unsigned char*>(flat.data) + size_t(p.buffer_offset) * dtype_bytes(flat.dtype);
  const bool whole = covers_whole(p);
  part.rank = whole ? p.rank : 1;
  int64_t stride = 1;
  for (int32_t d = part.rank - 1; d >= 0; --d) {
    part.shape[d] = whole ? p.shape[d] : p.count;
    part.strides[d] = stride;
    stride *= part.shape[d];
  }
  return part;
}

// ------------------------------------------------------------------------------ specs
struct ParamSpec {
  std::string name;
  std::vector<int64_t> shape;  // global
  llmrt_init_kind init = LLMRT_INIT_ZEROS;
  double init_scale = 0;
  int32_t shard_dim = LLMRT_NO_SHARD;
  llmrt_dtype dtype = LLMRT_DTYPE_F32;
  std::string tie_name;  // "" = not tied; see llmrt_param_spec.tie_name
  uint32_t flags = 0;    // LLMRT_PARAM_NO_DECAY for norm gains and biases
};

struct StateSpec {
  std::string name;
  double init_value = 0;
  llmrt_dtype dtype = LLMRT_DTYPE_F32;
};

}  // namespace plugin_v1
}  // namespace llmrt
