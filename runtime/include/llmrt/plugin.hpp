// Header-only C++ layer over the plugin C ABI: derive from Layer, Optimizer, LrSchedule or
// PipelineSchedule, register with LLMRT_PLUGIN, and the C trampolines are generated here.
// Every exception is caught at the boundary and returned as a status created by the host.
#pragma once

#include <llmrt/plugin.h>
#include <llmrt/plugin_support.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace llmrt {
inline namespace plugin_v1 {

using In = std::span<const llmrt_tensor>;
using Out = std::span<llmrt_tensor>;
using Saved = std::span<std::byte>;

// A layer: shapes, parameters, costs, and the three compute passes. Inputs/params/outputs
// follow the order of infer_shapes' input and param_specs().
class Layer {
 public:
  static constexpr uint32_t kFlags = 0;  // LLMRT_LAYER_FUSED_BACKWARD to skip backward_weight
  static std::vector<ConfigKey> config_keys() { return {}; }
  virtual ~Layer() = default;

  virtual std::vector<llmrt_tensor> infer_shapes(In in) = 0;
  virtual std::vector<ParamSpec> param_specs() = 0;
  virtual llmrt_cost_hints cost_hints(int64_t batch, int64_t seq) { return {}; }
  virtual size_t saved_bytes(int64_t batch, int64_t seq) { return 0; }
  // "" when this instance runs on devices like `device` with activations of `dtype`, else the
  // reason it does not. The default is the C ABI's: CPU with f32 activations only.
  virtual std::string supports(const llmrt_device& device, llmrt_dtype dtype) {
    return cpu_f32_only(device, dtype);
  }
  virtual void forward(const llmrt_call_ctx& ctx, In in, In params, Out out, Saved saved) = 0;
  // grad_in is written, grad_params accumulated into.
  virtual void backward_input(const llmrt_call_ctx& ctx, In grad_out, In in, In params, Saved saved,
                              Out grad_in, Out grad_params) = 0;
  virtual void backward_weight(const llmrt_call_ctx& ctx, In grad_out, In in, In params,
                               Saved saved, Out grad_params) {
    throw PluginError("backward_weight is not implemented", LLMRT_UNIMPLEMENTED);
  }
};

// What one optimizer call gets: flat params and grads of n elements, one flat buffer per state
// spec, and the parameter table saying which tensor (or part of it) lies where in them.
struct OptimizerStepArgs {
  llmrt_tensor& params;  // (n) updated in place
  const llmrt_tensor& grads;  // (n)
  Out states;            // [state spec] (n) each, updated in place
  double lr;
  int64_t step;          // counts from 1
  std::span<const llmrt_optimizer_param> table;  // in flat order; empty from a host before ABI 1.1
};

// An optimizer. Override step() to work over the flat buffers, or step_params() to work per
// tensor with the table (param_part() in plugin_support.hpp cuts one entry out of a buffer).
// kFlags: LLMRT_OPTIMIZER_WHOLE_TENSORS, LLMRT_OPTIMIZER_PARAM_GROUPS (plugin_components.h).
class Optimizer {
 public:
  static constexpr uint32_t kFlags = 0;
  static std::vector<ConfigKey> config_keys() { return {}; }
  virtual ~Optimizer() = default;
  virtual std::vector<StateSpec> state_specs() { return {}; }
  virtual void step(const llmrt_call_ctx& ctx, llmrt_tensor& params, const llmrt_tensor& grads,
                    Out states, double lr, int64_t step) {
    throw PluginError("the optimizer overrides neither step nor step_params", LLMRT_UNIMPLEMENTED);
  }
  // The host calls this one; the default ignores the table and runs step().
  virtual void step_params(const llmrt_call_ctx& ctx, const OptimizerStepArgs& args) {
    step(ctx, args.params, args.grads, args.states, args.lr, args.step);
  }
};

class LrSchedule {
 public:
  static std::vector<ConfigKey> config_keys() { return {}; }
  virtual ~LrSchedule() = default;
  virtual double lr_at(int64_t step, int64_t total_steps, double base_lr) = 0;
  virtual std::vector<std::byte> save_state() { return {}; }
  virtual void load_state(std::span<const std::byte> state) {}
};

// Data only: built fresh for each query from its config, so it holds no run state.
class PipelineSchedule {
 public:
  static std::vector<ConfigKey> config_keys() { return {}; }
  virtual ~PipelineSchedule() = default;
  // "" when the shape works, else the reason it does not.
  virtual std::string check_shape(const llmrt_schedule_shape& shape) { return ""; }
  virtual std::vector<llmrt_action> actions(const llmrt_schedule_shape& shape, int rank) = 0;
};

namespace detail {

// The host table of this plugin, set at registration (before any other call can happen).
inline const llmrt_host_api*& host_slot() {
  static const llmrt_host_api* host = nullptr;
  return host;
}

inline llmrt_status* make_status(int32_t code, const char* message) noexcept {
  const llmrt_host_api* host = host_slot();
  return host != nullptr ? host->status_new(code, message) : nullptr;
}

// Runs body; turns any exception into a status.
template <typename Body>
llmrt_status* guarded(Body&& body) noexcept {
  try {
    body();
    return nullptr;
  } catch (const PluginError& error) {
    return make_status(error.code(), error.what());
  } catch (const std::exception& error) {
    return make_status(LLMRT_INTERNAL, error.what());
  } catch (...) {
    return make_status(LLMRT_INTERNAL, "unknown exception");
  }
}

template <typename T>
std::span<T> span_of(T* data, size_t count) { return count == 0 ? std::span<T>() : std::span<T>(data, count); }

// Copies a computed list into a count-then-fill output.
template <typename C, typename Fill>
void fill_out(const std::vector<C>& items, size_t capacity, size_t* count, Fill&& fill) {
  *count = items.size();
  for (size_t i = 0; i < items.size() && i < capacity; ++i) fill(i, items[i]);
}

template <typename T>
struct LayerHolder {
  std::unique_ptr<T> layer;
  std::vector<ParamSpec> params;  // computed once: names must live as long as the instance
  bool params_known = false;
};

template <typename T>
struct LayerTrampolines {
  using H = LayerHolder<T>;
  static llmrt_status* create(const llmrt_host_api* host, const llmrt_config* config,
                              const llmrt_layer_context* context, void** instance) noexcept {
    return guarded([&] {
      auto holder = std::make_unique<H>();
      holder->layer = std::make_unique<T>(ComponentArgs{host, ComponentConfig(config), *context});
      *instance = holder.release();
    });
  }
  static void destroy(void* instance) noexcept { delete static_cast<H*>(instance); }
  static llmrt_status* infer_shapes(void* instance, const llmrt_tensor* in, size_t in_count,
                                    llmrt_tensor* out, size_t capacity, size_t* count) noexcept {
    return guarded([&] {
      auto shapes = static_cast<H*>(instance)->layer->infer_shapes(span_of(in, in_count));
      fill_out(shapes, capacity, count, [&](size_t i, const llmrt_tensor& t) { out[i] = t; });
    });
  }
  static llmrt_status* param_specs(void* instance, llmrt_param_spec* out, size_t capacity,
                                   size_t* count) noexcept {
    return guarded([&] {
      H* holder = static_cast<H*>(instance);
      if (!holder->params_known) holder->params = holder->layer->param_specs();
      holder->params_known = true;
      fill_out(holder->params, capacity, count, [&](size_t i, const ParamSpec& p) {
        if (p.shape.size() > LLMRT_MAX_RANK) throw PluginError("parameter " + p.name + ": rank too large");
        llmrt_param_spec spec{};
        spec.struct_size = sizeof(spec);
        spec.name = p.name.c_str();
        spec.dtype = p.dtype;
        spec.rank = static_cast<int32_t>(p.shape.size());
        for (size_t d = 0; d < p.shape.size(); ++d) spec.shape[d] = p.shape[d];
        spec.init = p.init;
        spec.shard_dim = p.shard_dim;
        spec.init_scale = p.init_scale;
        spec.tie_name = p.tie_name.empty() ? nullptr : p.tie_name.c_str();
        spec.flags = p.flags;
        out[i] = spec;
      });
    });
  }
  static llmrt_status* forward(void* instance, const llmrt_call_ctx* ctx, const llmrt_forward_args* a) noexcept {
    return guarded([&] {
      static_cast<H*>(instance)->layer->forward(*ctx, span_of(a->in, a->in_count), span_of(a->params, a->param_count),
                                                span_of(a->out, a->out_count),
                                                span_of(static_cast<std::byte*>(a->saved), a->saved_bytes));
    });
  }
  static llmrt_status* backward_input(void* instance, const llmrt_call_ctx* ctx,
                                      const llmrt_backward_input_args* a) noexcept {
    return guarded([&] {
      static_cast<H*>(instance)->layer->backward_input(
          *ctx, span_of(a->grad_out, a->grad_out_count), span_of(a->in, a->in_count),
          span_of(a->params, a->param_count), span_of(static_cast<std::byte*>(a->saved), a->saved_bytes),
          span_of(a->grad_in, a->grad_in_count), span_of(a->grad_params, a->grad_param_count));
    });
  }
  static llmrt_status* backward_weight(void* instance, const llmrt_call_ctx* ctx,
                                       const llmrt_backward_weight_args* a) noexcept {
    return guarded([&] {
      static_cast<H*>(instance)->layer->backward_weight(
          *ctx, span_of(a->grad_out, a->grad_out_count), span_of(a->in, a->in_count),
          span_of(a->params, a->param_count), span_of(static_cast<std::byte*>(a->saved), a->saved_bytes),
          span_of(a->grad_params, a->grad_param_count));
    });
  }
  static llmrt_status* cost_hints(void* instance, int64_t batch, int64_t seq, llmrt_cost_hints* out) noexcept {
    return guarded([&] {
      llmrt_cost_hints hints = static_cast<H*>(instance)->layer->cost_hints(batch, seq);
      // A host of an older minor passes a shorter struct (no workspace_bytes before 1.2): write
      // only the fields it has room for.
      const size_t room = out->struct_size != 0 && out->struct_size < sizeof(hints) ? out->struct_size : sizeof(hints);
      hints.struct_size = room;
      std::memcpy(static_cast<void*>(out), &hints, room);
    });
  }
  static llmrt_status* saved_bytes(void* instance, int64_t batch, int64_t seq, size_t* bytes) noexcept {
    return guarded([&] { *bytes = static_cast<H*>(instance)->layer->saved_bytes(batch, seq); });
  }
  static llmrt_status* supports(void* instance, llmrt_device device, int32_t dtype) noexcept {
    std::string reason;
    llmrt_status* failed = guarded([&] {
      reason = static_cast<H*>(instance)->layer->supports(device, static_cast<llmrt_dtype>(dtype));
    });
    if (failed != nullptr) return failed;
    return reason.empty() ? nullptr : make_status(LLMRT_UNIMPLEMENTED, reason.c_str());
  }
  static constexpr bool kFused = (T::kFlags & LLMRT_LAYER_FUSED_BACKWARD) != 0;
  static constexpr llmrt_layer_vtable table = {
      sizeof(llmrt_layer_vtable), T::kFlags, 0, &create, &destroy, &infer_shapes, &param_specs,
      &forward, &backward_input, kFused ? nullptr : &backward_weight, &cost_hints, &saved_bytes, &supports};
};

template <typename T>
struct OptimizerTrampolines {
  struct H {
    std::unique_ptr<T> optimizer;
    std::vector<StateSpec> states;
    bool states_known = false;
  };
  static llmrt_status* create(const llmrt_host_api* host, const llmrt_config* config, void** instance) noexcept {
    return guarded([&] {
      auto holder = std::make_unique<H>();
      holder->optimizer = std::make_unique<T>(ComponentArgs{host, ComponentConfig(config), {}});
      *instance = holder.release();
    });
  }
  static void destroy(void* instance) noexcept { delete static_cast<H*>(instance); }
  static llmrt_status* step(void* instance, const llmrt_call_ctx* ctx, const llmrt_optimizer_step_args* a) noexcept {
    return guarded([&] {
      std::span<const llmrt_optimizer_param> table;
      if (LLMRT_HAS_FIELD(a, llmrt_optimizer_step_args, param_count)) table = span_of(a->param_table, a->param_count);
      const OptimizerStepArgs args{*a->params, *a->grads, span_of(a->states, a->state_count), a->lr, a->step, table};
      static_cast<H*>(instance)->optimizer->step_params(*ctx, args);
    });
  }
  static llmrt_status* state_specs(void* instance, llmrt_state_spec* out, size_t capacity, size_t* count) noexcept {
    return guarded([&] {
      H* holder = static_cast<H*>(instance);
      if (!holder->states_known) holder->states = holder->optimizer->state_specs();
      holder->states_known = true;
      fill_out(holder->states, capacity, count, [&](size_t i, const StateSpec& s) {
        out[i] = llmrt_state_spec{sizeof(llmrt_state_spec), s.name.c_str(), s.dtype, 0, s.init_value};
      });
    });
  }
  static constexpr llmrt_optimizer_vtable table = {sizeof(llmrt_optimizer_vtable), &create, &destroy,
                                                   &step, &state_specs, T::kFlags, 0};
};

template <typename T>
struct LrScheduleTrampolines {
  static llmrt_status* create(const llmrt_host_api* host, const llmrt_config* config, void** instance) noexcept {
    return guarded([&] { *instance = new T(ComponentArgs{host, ComponentConfig(config), {}}); });
  }
  static void destroy(void* instance) noexcept { delete static_cast<T*>(instance); }
  static llmrt_status* lr_at(void* instance, int64_t step, int64_t total, double base, double* lr) noexcept {
    return guarded([&] { *lr = static_cast<T*>(instance)->lr_at(step, total, base); });
  }
  static llmrt_status* state_bytes(void* instance, size_t* bytes) noexcept {
    return guarded([&] { *bytes = static_cast<T*>(instance)->save_state().size(); });
  }
  static llmrt_status* save_state(void* instance, void* buffer, size_t bytes) noexcept {
    return guarded([&] {
      std::vector<std::byte> state = static_cast<T*>(instance)->save_state();
      if (state.size() != bytes) throw PluginError("save_state: buffer size differs from state_bytes", LLMRT_INTERNAL);
      std::copy(state.begin(), state.end(), static_cast<std::byte*>(buffer));
    });
  }
  static llmrt_status* load_state(void* instance, const void* buffer, size_t bytes) noexcept {
    return guarded([&] {
      static_cast<T*>(instance)->load_state(span_of(static_cast<const std::byte*>(buffer), bytes));
    });
  }
  static constexpr llmrt_lr_schedule_vtable table = {sizeof(llmrt_lr_schedule_vtable), &create, &destroy, &lr_at,
                                                     &state_bytes, &save_state, &load_state};
};

template <typename T>
struct PipelineScheduleTrampolines {
  static T make(const llmrt_config* config) { return T(ComponentArgs{host_slot(), ComponentConfig(config), {}}); }
  static llmrt_status* actions(const llmrt_config* config, const llmrt_schedule_shape* shape, int32_t rank,
                               llmrt_action* out, size_t capacity, size_t* count) noexcept {
    return guarded([&] {
      std::vector<llmrt_action> list = make(config).actions(*shape, rank);
      fill_out(list, capacity, count, [&](size_t i, const llmrt_action& a) { out[i] = a; });
    });
  }
  static llmrt_status* check_shape(const llmrt_config* config, const llmrt_schedule_shape* shape) noexcept {
    std::string reason;
    llmrt_status* failed = guarded([&] { reason = make(config).check_shape(*shape); });
    if (failed != nullptr) return failed;
    return reason.empty() ? nullptr : make_status(LLMRT_INVALID_ARGUMENT, reason.c_str());
  }
  static constexpr llmrt_pipeline_schedule_vtable table = {sizeof(llmrt_pipeline_schedule_vtable), &actions,
                                                           &check_shape};
};

}  // namespace detail

// Handed to the function LLMRT_PLUGIN defines; each add_* registers one component.
class Registrar {
 public:
  Registrar(const llmrt_host_api* host, llmrt_registrar* registrar) : host_(host), registrar_(registrar) {}

  template <typename T>
  void add_layer(const char* name, const char* version, const char* doc = "") {
    add(LLMRT_KIND_LAYER, name, version, doc, T::config_keys(), &detail::LayerTrampolines<T>::table);
  }
  template <typename T>
  void add_optimizer(const char* name, const char* version, const char* doc = "") {
    add(LLMRT_KIND_OPTIMIZER, name, version, doc, T::config_keys(), &detail::OptimizerTrampolines<T>::table);
  }
  template <typename T>
  void add_lr_schedule(const char* name, const char* version, const char* doc = "") {
    add(LLMRT_KIND_LR_SCHEDULE, name, version, doc, T::config_keys(), &detail::LrScheduleTrampolines<T>::table);
  }
  template <typename T>
  void add_pipeline_schedule(const char* name, const char* version, const char* doc = "") {
    add(LLMRT_KIND_PIPELINE_SCHEDULE, name, version, doc, T::config_keys(),
        &detail::PipelineScheduleTrampolines<T>::table);
  }

 private:
  void add(int32_t kind, const char* name, const char* version, const char* doc,
           const std::vector<ConfigKey>& keys, const void* vtable) {
    std::vector<llmrt_config_key> c_keys;
    for (const ConfigKey& key : keys) {
      c_keys.push_back(llmrt_config_key{sizeof(llmrt_config_key), key.name.c_str(), key.type, 0,
                                        key.default_value ? key.default_value->c_str() : nullptr,
                                        key.doc.c_str()});
    }
    llmrt_component_desc desc{sizeof(llmrt_component_desc), kind, 0, name, version, doc,
                              c_keys.data(), c_keys.size(), vtable};
    llmrt_status* status = registrar_->add(registrar_, &desc);
    if (status != nullptr) {
      PluginError error(host_->status_message(status), host_->status_code(status));
      host_->status_free(status);
      throw error;
    }
  }

  const llmrt_host_api* host_;
  llmrt_registrar* registrar_;
};

namespace detail {
inline llmrt_status* run_registration(const llmrt_host_api* host, llmrt_registrar* registrar,
                                      void (*body)(Registrar&)) noexcept {
  host_slot() = host;
  return guarded([&] {
    Registrar wrapped(host, registrar);
    body(wrapped);
  });
}
}  // namespace detail

}  // namespace plugin_v1
}  // namespace llmrt

// Defines the plugin's entry symbol; the braces that follow are the registration body, with
// `registrar` in scope:  LLMRT_PLUGIN("acme-mlp", "0.1.0") { registrar.add_layer<Mlp>(...); }
#define LLMRT_PLUGIN(NAME, VERSION)                                                                  \
  static void llmrt_plugin_register_body_(::llmrt::Registrar& registrar);                            \
  static llmrt_status* llmrt_plugin_register_c_(const llmrt_host_api* host,                         \
                                                llmrt_registrar* registrar) noexcept {               \
    return ::llmrt::detail::run_registration(host, registrar, &llmrt_plugin_register_body_);         \
  }                                                                                                  \
  extern "C" LLMRT_PLUGIN_EXPORT const llmrt_plugin_identity* llmrt_plugin_entry_v1(void) {          \
    static const llmrt_plugin_identity identity =                                                    \
        LLMRT_PLUGIN_IDENTITY_INIT(NAME, VERSION, LLMRT_PLUGIN_BUILD_ID, &llmrt_plugin_register_c_); \
    return &identity;                                                                                \
  }                                                                                                  \
  static void llmrt_plugin_register_body_(::llmrt::Registrar& registrar)
