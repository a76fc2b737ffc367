// Helpers of the CUDA plugin tests, which call the built-in components' classes directly (the
// binaries travel to the GPU machine alone, without the loader or the .so files): a host API for
// a group of one, configs built in code, and "twin" tensors that hold the same values on the
// host (for the CPU path of the same class) and on the device (for its CUDA branch), packed into
// one flat buffer per side at odd element offsets, as the ParamStore's flat buffers hand them out.
#pragma once

#include <llmrt/half.hpp>
#include <llmrt/plugin.hpp>

#include <cstddef>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

#include "cuda/cuda_test_util.h"
#include "ops/host_ops.h"
#include "ops/host_status.h"

namespace llmrt::kernels::cuda_test {

// The host services a layer uses, for a group of one: statuses, logging, the op table, and an
// all_reduce that copies (host memory at once, device memory on the call's stream).
class TestHost {
 public:
  TestHost() {
    api_.struct_size = sizeof(api_);
    // The real statuses and op table (llmrt_host_ops): the layers' CPU passes run through it.
    api_.status_new = &llmrt::host_status_new;
    api_.status_code = &llmrt::host_status_code;
    api_.status_message = &llmrt::host_status_message;
    api_.status_free = &llmrt::host_status_free;
    api_.ops = llmrt::plugin_ops_table();
    api_.log = [](int32_t, const char*, const char*) {};
    api_.all_reduce = [](llmrt_comm*, const void* send, void* recv, size_t count, int32_t dtype, int32_t,
                         llmrt_stream* stream) -> llmrt_status* {
      const size_t bytes = count * (dtype == LLMRT_DTYPE_F32 ? 4 : 2);
      cudaPointerAttributes attributes{};
      if (cudaPointerGetAttributes(&attributes, send) == cudaSuccess && attributes.type == cudaMemoryTypeDevice) {
        LLMRT_CUDA_CHECK(cudaMemcpyAsync(recv, send, bytes, cudaMemcpyDeviceToDevice,
                                         reinterpret_cast<cudaStream_t>(stream)));
      } else {
        cudaGetLastError();  // clear what the query of a host pointer may have left
        std::memcpy(recv, send, bytes);
      }
      return nullptr;
    };
  }
  const llmrt_host_api* api() const { return &api_; }

 private:
  llmrt_host_api api_{};
};

// A component's resolved config, built in code (every key the component declares must be set).
class TestConfig {
 public:
  TestConfig& integer(const std::string& name, int64_t value) { return add(name, LLMRT_KEY_INT).integer = value, *this; }
  TestConfig& boolean(const std::string& name, bool value) { return add(name, LLMRT_KEY_BOOL).boolean = value, *this; }
  TestConfig& number(const std::string& name, double value) { return add(name, LLMRT_KEY_FLOAT).number = value, *this; }
  TestConfig& numbers(const std::string& name, std::vector<double> values) {
    const std::vector<double>& kept = lists_.emplace_back(std::move(values));
    llmrt_config_value& value = add(name, LLMRT_KEY_FLOAT_LIST);
    value.numbers = kept.data();
    value.count = kept.size();
    return *this;
  }
  ComponentConfig config() {
    config_ = llmrt_config{sizeof(llmrt_config), values_.data(), values_.size()};
    return ComponentConfig(&config_);
  }

 private:
  llmrt_config_value& add(const std::string& name, int32_t type) {
    llmrt_config_value& value = values_.emplace_back();
    value.struct_size = sizeof(value);
    value.name = names_.emplace_back(name).c_str();
    value.type = type;
    return value;
  }
  std::deque<std::string> names_;
  std::deque<std::vector<double>> lists_;
  std::vector<llmrt_config_value> values_;
  llmrt_config config_{};
};

// A layer's context at compute dtype `dtype` (f32, bf16 or f16), tp ranks, recompute mode.
inline llmrt_layer_context layer_context(int32_t dtype, int32_t tp = 1, int32_t recompute = LLMRT_RECOMPUTE_NONE) {
  return llmrt_layer_context{sizeof(llmrt_layer_context), 0, tp, dtype, 0, recompute};
}
inline llmrt_layer_context bf16_layer_context() { return layer_context(LLMRT_DTYPE_BF16); }

// The storage dtypes the CUDA layers run, each with its machine epsilon (unit roundoff times 2):
// what one rounding of a stored value may cost, relative.
struct StorageDtype {
  int32_t dtype;
  const char* name;
  double eps;
};
inline constexpr StorageDtype kStorageDtypes[] = {
    {LLMRT_DTYPE_F32, "f32", 1.0 / (1 << 23)}, {LLMRT_DTYPE_BF16, "bf16", 1.0 / (1 << 7)}, {LLMRT_DTYPE_F16, "f16", 1.0 / (1 << 10)}};

// Element-wise |got - want| <= (factor * eps + 4 * eps32 * reduction_len) * (|want| + rms(want)):
// check_close_bf16's rule at any storage epsilon (f32's makes it an fp32 accumulation bound).
inline void check_close_at(const StorageDtype& storage, const std::vector<float>& got, const std::vector<float>& want,
                           double reduction_len, const std::string& what, double factor) {
  using llmrt::kernels::test::kEps32;
  using llmrt::kernels::test::rms;
  const std::string name = what + " (" + storage.name + ")";
  BOOST_TEST_REQUIRE(got.size() == want.size(), name << ": size mismatch");
  llmrt::kernels::test::require_nonzero(want, name + " (CPU reference)");
  llmrt::kernels::test::require_nonzero(got, name + " (CUDA)");
  const double scale = rms(want), tol = factor * storage.eps + 4 * kEps32 * reduction_len;
  int reported = 0;
  double worst = 0.0;
  for (std::size_t i = 0; i < got.size(); i++) {
    const double err = std::fabs(double(got[i]) - want[i]);
    worst = std::max(worst, err / (std::fabs(want[i]) + scale));
    if (!(err <= tol * (std::fabs(want[i]) + scale)) && reported++ < 5) {  // written so NaN fails
      BOOST_ERROR(name << "[" << i << "]: got " << got[i] << ", want " << want[i] << ", |err| " << err << " > "
                       << tol * (std::fabs(want[i]) + scale));
    }
  }
  BOOST_TEST_MESSAGE(name << ": worst relative error " << worst << " (allowed " << tol << ")");
}

inline llmrt_call_ctx call_ctx(int32_t device_type, cudaStream_t stream) {
  llmrt_call_ctx ctx{};
  ctx.struct_size = sizeof(ctx);
  ctx.device = {device_type, 0};
  ctx.stream = device_type == LLMRT_DEVICE_CUDA ? reinterpret_cast<llmrt_stream*>(stream) : nullptr;
  ctx.tp_size = 1;
  return ctx;
}

inline size_t element_bytes(int32_t dtype) { return dtype == LLMRT_DTYPE_BF16 || dtype == LLMRT_DTYPE_F16 ? 2 : 4; }

// Tensors of one dtype with the same values on the host and on the device. Tensor i starts one
// element after the end of tensor i-1 (the first at element 1), so on the device most start at
// odd element offsets of one flat allocation: 2- or 4-byte aligned, never more by design.
class TwinTensors {
 public:
  TwinTensors(int32_t dtype, std::vector<std::vector<int64_t>> shapes) : dtype_(dtype), shapes_(std::move(shapes)) {
    size_t at = 1;
    for (const auto& shape : shapes_) {
      offsets_.push_back(at);
      at += count(shape) + 1;
    }
    host_.resize(at * element_bytes(dtype_));
    device_ = DeviceBuffer<unsigned char>(host_.size());
    LLMRT_CUDA_CHECK(cudaMemset(device_.get(), 0, device_.bytes()));
  }
  size_t size() const { return shapes_.size(); }

  // Sets tensor i to `values` (rounded to the dtype) on both sides; i32 values are ids.
  void fill(size_t i, const std::vector<float>& values) {
    BOOST_TEST_REQUIRE(values.size() == count(shapes_[i]));
    std::byte* at = host_.data() + offsets_[i] * element_bytes(dtype_);
    if (dtype_ == LLMRT_DTYPE_I32) {
      std::vector<int32_t> ids(values.begin(), values.end());
      std::memcpy(at, ids.data(), ids.size() * 4);
    } else {
      from_float(at, values.data(), dtype_, values.size());
    }
    device_.upload(reinterpret_cast<const unsigned char*>(host_.data()), host_.size());
  }
  llmrt_tensor host(size_t i) { return make(i, host_.data(), LLMRT_DEVICE_CPU); }
  llmrt_tensor device(size_t i) { return make(i, reinterpret_cast<std::byte*>(device_.get()), LLMRT_DEVICE_CUDA); }
  std::vector<llmrt_tensor> hosts() { return all(false); }
  std::vector<llmrt_tensor> devices() { return all(true); }

  // Tensor i's values as floats: the host side as it is, the device side after the device is idle.
  std::vector<float> host_values(size_t i) const { return widen(host_.data(), i); }
  std::vector<float> device_values(size_t i) const {
    LLMRT_CUDA_CHECK(cudaDeviceSynchronize());
    std::vector<std::byte> copy(host_.size());
    device_.download(reinterpret_cast<unsigned char*>(copy.data()), copy.size());
    return widen(copy.data(), i);
  }

 private:
  static size_t count(const std::vector<int64_t>& shape) {
    size_t n = 1;
    for (int64_t d : shape) n *= size_t(d);
    return n;
  }
  llmrt_tensor make(size_t i, std::byte* base, int32_t device_type) {
    llmrt_tensor t{};
    t.struct_size = sizeof(t);
    t.dtype = dtype_;
    t.rank = int32_t(shapes_[i].size());
    int64_t stride = 1;
    for (int32_t d = t.rank - 1; d >= 0; --d) {
      t.shape[d] = shapes_[i][d];
      t.strides[d] = stride;
      stride *= shapes_[i][d];
    }
    t.device = {device_type, 0};
    t.data = base + offsets_[i] * element_bytes(dtype_);
    return t;
  }
  std::vector<llmrt_tensor> all(bool on_device) {
    std::vector<llmrt_tensor> out;
    for (size_t i = 0; i < size(); ++i) out.push_back(on_device ? device(i) : host(i));
    return out;
  }
  std::vector<float> widen(const std::byte* base, size_t i) const {
    std::vector<float> out(count(shapes_[i]));
    const std::byte* at = base + offsets_[i] * element_bytes(dtype_);
    if (dtype_ == LLMRT_DTYPE_I32) {
      std::vector<int32_t> ids(out.size());
      std::memcpy(ids.data(), at, ids.size() * 4);
      for (size_t k = 0; k < out.size(); ++k) out[k] = float(ids[k]);
    } else {
      to_float(out.data(), at, dtype_, out.size());
    }
    return out;
  }

  int32_t dtype_;
  std::vector<std::vector<int64_t>> shapes_;
  std::vector<size_t> offsets_;  // in elements
  std::vector<std::byte> host_;
  DeviceBuffer<unsigned char> device_;
};

// A saved buffer of `bytes` on each side.
struct TwinSaved {
  explicit TwinSaved(size_t bytes) : host((bytes + 3) / 4), device(bytes) {}
  Saved host_span() { return Saved(reinterpret_cast<std::byte*>(host.data()), device.bytes()); }
  Saved device_span() { return Saved(reinterpret_cast<std::byte*>(device.get()), device.bytes()); }
  std::vector<float> host;
  DeviceBuffer<unsigned char> device;
};

}  // namespace llmrt::kernels::cuda_test
