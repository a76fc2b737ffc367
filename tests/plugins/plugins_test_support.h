// Helpers for the built-in plugin tests: load the built .so files through the real loader,
// configure components as a config file would, and drive a layer through its C ABI.
#pragma once

#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstddef>
#include <map>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "plugin/component_config.h"
#include "plugin/plugin_calls.h"
#include "plugin/plugin_search.h"
#include "plugin/host_tensors.h"

namespace plugins_test {

using namespace llmrt;

// The three built-in plugin files only (not the whole plugin directory other work shares).
inline Registry load_builtin_plugins() {
  PluginSearchOptions options;
  options.use_builtin = false;
  options.environment_path = std::string(PLUGINS_GPT_SO) + ":" + PLUGINS_OPTIM_SO + ":" + PLUGINS_LR_SO;
  auto registry = load_plugins(options);
  BOOST_REQUIRE_MESSAGE(registry.ok(), (registry.ok() ? "" : registry.error().message()));
  return std::move(*registry);
}

inline ComponentSpec spec_with(const std::string& component, const std::map<std::string, ParamValue>& values) {
  ComponentSpec spec;
  spec.component.value = component;
  spec.pos = SourcePos{"model.toml", 3, 1, "model.layer[0]"};
  int line = 4;
  for (const auto& [key, value] : values) {
    spec.params[key] = Located<ParamValue>{value, SourcePos{"model.toml", line++, 1, "model.layer[0]." + key}};
  }
  return spec;
}

inline const Component& find_component(const Registry& registry, const std::string& name) {
  const Component* component = registry.find(name);
  BOOST_REQUIRE_MESSAGE(component != nullptr, "no component " + name);
  return *component;
}

// A contiguous CPU tensor over `data` (or a shape only when data is null).
inline llmrt_tensor make_tensor(void* data, llmrt_dtype dtype, const std::vector<int64_t>& shape) {
  return host_tensor(data, dtype, shape);
}
inline llmrt_tensor f32(std::vector<float>& data, const std::vector<int64_t>& shape) {
  return make_tensor(data.data(), LLMRT_DTYPE_F32, shape);
}
inline llmrt_tensor i32(std::vector<int32_t>& data, const std::vector<int64_t>& shape) {
  return make_tensor(data.data(), LLMRT_DTYPE_I32, shape);
}

inline llmrt_call_ctx cpu_ctx() {
  llmrt_call_ctx ctx{};
  ctx.struct_size = sizeof(ctx);
  ctx.device = {LLMRT_DEVICE_CPU, 0};
  ctx.tp_size = 1;
  return ctx;
}

inline std::vector<float> random_floats(size_t n, float lo, float hi, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> values(n);
  for (float& v : values) v = dist(rng);
  return values;
}

// One layer instance with its parameters (random, larger than GPT-2's init so that every path
// carries a gradient well above fp32 noise), gradients and per-microbatch saved buffers.
struct LayerRig {
  const Component* component = nullptr;
  std::unique_ptr<ComponentInstance> instance;
  std::vector<llmrt_param_spec> specs;
  std::vector<std::vector<float>> params, grads;

  std::vector<llmrt_tensor> param_tensors() { return tensors_of(params); }
  std::vector<llmrt_tensor> grad_tensors() { return tensors_of(grads); }
  void zero_grads() {
    for (auto& g : grads) std::fill(g.begin(), g.end(), 0.0f);
  }
  // A buffer of saved_bytes(batch, seq), as floats so it is aligned for them.
  std::vector<float> saved_buffer(int64_t batch, int64_t seq) const {
    auto bytes = layer_saved_bytes(*instance, batch, seq);
    BOOST_REQUIRE(bytes.ok());
    return std::vector<float>((*bytes + sizeof(float) - 1) / sizeof(float));
  }

 private:
  std::vector<llmrt_tensor> tensors_of(std::vector<std::vector<float>>& data) {
    std::vector<llmrt_tensor> out;
    for (size_t i = 0; i < specs.size(); ++i) {
      out.push_back(f32(data[i], std::vector<int64_t>(specs[i].shape, specs[i].shape + specs[i].rank)));
    }
    return out;
  }
};

// Creates `name` with `values` at tp = 1 and fills its parameters: LayerNorm-like weights
// (init ones) near 1, everything else uniform in [-scale, scale].
// recompute: llmrt_layer_context.recompute (LLMRT_RECOMPUTE_SELECTIVE for a selective instance).
inline LayerRig make_rig(const Registry& registry, const std::string& name,
                         const std::map<std::string, ParamValue>& values, float scale, std::mt19937& rng,
                         int32_t recompute = LLMRT_RECOMPUTE_NONE) {
  LayerRig rig;
  rig.component = &find_component(registry, name);
  auto config = resolve_component_config(*rig.component, spec_with(name, values));
  BOOST_REQUIRE_MESSAGE(config.ok(), (config.ok() ? "" : config.error().message()));
  llmrt_layer_context context{sizeof(llmrt_layer_context), 0, 1, LLMRT_DTYPE_F32, 0, recompute};
  auto layer = create_layer(*rig.component, *config, context);
  BOOST_REQUIRE_MESSAGE(layer.ok(), (layer.ok() ? "" : layer.error().message()));
  rig.instance = std::make_unique<ComponentInstance>(std::move(*layer));
  auto specs = layer_param_specs(*rig.instance);
  BOOST_REQUIRE(specs.ok());
  rig.specs = *specs;
  for (const llmrt_param_spec& spec : rig.specs) {
    size_t n = 1;
    for (int d = 0; d < spec.rank; ++d) n *= size_t(spec.shape[d]);
    std::vector<float> values = random_floats(n, -scale, scale, rng);
    if (spec.init == LLMRT_INIT_ONES) {
      for (float& v : values) v += 1.0f;
    }
    rig.params.push_back(values);
    rig.grads.emplace_back(n, 0.0f);
  }
  return rig;
}

// Fails the test with the error when a call through plugin_calls.h failed.
inline void require_ok(const Status& status) {
  BOOST_REQUIRE_MESSAGE(status.ok(), (status.ok() ? "" : status.error().message()));
}

// A saved-state buffer (floats, for alignment) as the bytes the layer calls take.
inline std::span<std::byte> bytes_of(std::vector<float>& saved) { return std::as_writable_bytes(std::span(saved)); }

// Throws a Boost failure naming the call when a component returned a status.
inline void require_ok(llmrt_status* status, const LayerRig& rig, const char* what) {
  Status checked = check_component_call(status, *rig.component, what);
  BOOST_REQUIRE_MESSAGE(checked.ok(), (checked.ok() ? "" : checked.error().message()));
}

// Largest |a - b| / (abs_tol + rel_tol |b|); <= 1 passes. Also reports where.
struct Mismatch {
  double worst = 0;
  size_t index = 0;
};
inline Mismatch compare(const std::vector<double>& got, const std::vector<double>& want, double abs_tol,
                        double rel_tol) {
  Mismatch m;
  for (size_t i = 0; i < got.size(); ++i) {
    const double ratio = std::abs(got[i] - want[i]) / (abs_tol + rel_tol * std::abs(want[i]));
    if (ratio > m.worst) m = Mismatch{ratio, i};
  }
  return m;
}

}  // namespace plugins_test
