#include "exec/model_layers.h"

#include <map>
#include <memory>
#include <mutex>
#include <utility>

#include <fmt/format.h>

#include "exec/param_checks.h"
#include "exec/recompute.h"
#include "plugin/host_tensors.h"
#include "plugin/host_api.h"

namespace llmrt {
namespace {

bool declares(const Component& component, const std::string& key) {
  for (const ConfigKeyDecl& declared : component.keys) {
    if (declared.name == key) return true;
  }
  return false;
}

// "A100-80GB (CUDA)", "cpu (CPU)": the device model and the type a layer is asked about.
std::string device_label(const Device& device) {
  return fmt::format("{} ({})", device.model->name, device.model->is_cpu ? "CPU" : "CUDA");
}

void fill_if_missing(ComponentSpec& spec, const Component& component, const std::string& key, std::int64_t value) {
  if (!declares(component, key) || spec.params.count(key) != 0) return;
  spec.params.emplace(key, Located<ParamValue>{ParamValue(value), spec.pos});
}

}  // namespace

std::vector<LayerPlanEntry> expand_layers(const ModelSpec& model) {
  std::vector<LayerPlanEntry> entries;
  for (std::size_t spec_index = 0; spec_index < model.layers.size(); ++spec_index) {
    for (int copy = 0; copy < model.layers[spec_index].repeat; ++copy) {
      entries.push_back({static_cast<int>(spec_index), copy});
    }
  }
  return entries;
}

ComponentSpec with_model_keys(const ModelSpec& model, int spec_index, const Component& component) {
  ComponentSpec spec = model.layers[static_cast<std::size_t>(spec_index)];
  fill_if_missing(spec, component, "vocab_size", model.vocab_size.value);
  fill_if_missing(spec, component, "vocab_pad_multiple", model.vocab_pad_multiple.value);
  fill_if_missing(spec, component, "seq_len", model.seq_len.value);
  for (int earlier = spec_index - 1; earlier >= 0 && spec.params.count("d_model") == 0; --earlier) {
    auto it = model.layers[static_cast<std::size_t>(earlier)].params.find("d_model");
    if (it != model.layers[static_cast<std::size_t>(earlier)].params.end() &&
        std::holds_alternative<std::int64_t>(it->second.value)) {
      fill_if_missing(spec, component, "d_model", std::get<std::int64_t>(it->second.value));
    }
  }
  std::int64_t same_component = 0;
  for (const LayerSpec& layer : model.layers) {
    if (layer.component.value == spec.component.value) same_component += layer.repeat;
  }
  fill_if_missing(spec, component, "n_layer_for_init", same_component);
  return spec;
}

Result<std::vector<LayerSlot>> create_layers(const ModelSpec& model, const Registry& registry, int first, int last,
                                             const llmrt_layer_context& context, Recompute train_recompute) {
  const std::vector<LayerPlanEntry> entries = expand_layers(model);
  std::vector<LayerSlot> slots;
  for (int index = first; index < last; ++index) {
    const LayerPlanEntry& entry = entries.at(static_cast<std::size_t>(index));
    const LayerSpec& layer = model.layers[static_cast<std::size_t>(entry.spec_index)];
    LLMRT_ASSIGN_OR_RETURN(auto component,
                           registry.lookup(layer.component.value, LLMRT_KIND_LAYER, layer.component.pos.describe()));
    LLMRT_ASSIGN_OR_RETURN(auto config,
                           resolve_component_config(*component, with_model_keys(model, entry.spec_index, *component)));
    LLMRT_ASSIGN_OR_RETURN(const Recompute recompute, layer_recompute(layer, *component, train_recompute));
    llmrt_layer_context layer_context = context;
    layer_context.layer_index = index;
    layer_context.recompute = recompute == Recompute::kSelective ? LLMRT_RECOMPUTE_SELECTIVE : LLMRT_RECOMPUTE_NONE;
    LLMRT_ASSIGN_OR_RETURN_CTX(auto instance,
                               create_layer(*component, config, layer_context), "{}", layer.pos.describe());
    LLMRT_ASSIGN_OR_RETURN(auto params, layer_param_specs(instance));
    std::string label = fmt::format("{}[{}]", layer.component.value, index);
    const std::string owner = fmt::format("{}: layer {} (component '{}', plugin {})", layer.pos.describe(), label,
                                          component->name, component->plugin->path);
    LLMRT_RETURN_IF_ERROR(check_param_specs(params, context.tp_size, owner));
    slots.push_back(LayerSlot{index, std::move(label), component, std::move(config), std::move(instance),
                              std::move(params), recompute, layer.pos.describe()});
  }
  return slots;
}

Result<std::vector<std::vector<std::int64_t>>> layer_output_shapes(
    const std::vector<LayerSlot>& layers, std::int64_t batch, std::int64_t seq,
    const std::optional<std::vector<std::int64_t>>& input_shape, bool ends_model) {
  const std::vector<std::int64_t> tokens = {batch, seq};  // (B, T) i32: token ids and targets
  std::vector<std::vector<std::int64_t>> shapes;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const std::vector<std::int64_t>* activation = i > 0 ? &shapes.back() : input_shape ? &*input_shape : nullptr;
    std::vector<llmrt_tensor> in;
    in.push_back(activation ? host_tensor(nullptr, LLMRT_DTYPE_F32, *activation)
                            : host_tensor(nullptr, LLMRT_DTYPE_I32, tokens));
    if (ends_model && i + 1 == layers.size()) in.push_back(host_tensor(nullptr, LLMRT_DTYPE_I32, tokens));
    auto out = layer_infer_shapes(layers[i].instance, in);
    if (!out) {
      // "job.toml:22:1: model.layer[2]: gpt.block[2]", or the label alone for slots made elsewhere.
      auto named = [](const LayerSlot& layer) {
        return layer.where.empty() ? layer.label : fmt::format("{}: {}", layer.where, layer.label);
      };
      if (i == 0) return out.error().with_context(named(layers[i]));
      // The refusing layer is often right: name the layer whose declared output it refused first.
      return out.error().with_context(fmt::format(
          "{}'s output ({}), as its infer_shapes declares it (component '{}', plugin {}), is refused by the next "
          "layer {}{}", named(layers[i - 1]), fmt::join(*activation, ", "), layers[i - 1].component->name,
          layers[i - 1].component->plugin->path, layers[i].label,
          layers[i].where.empty() ? std::string() : fmt::format(" ({})", layers[i].where)));
    }
    if (out->size() != 1) {
      return runtime_error("{}: a layer must produce exactly one output, this one gives {}", layers[i].label,
                           out->size());
    }
    shapes.emplace_back(out->front().shape, out->front().shape + out->front().rank);
  }
  return shapes;
}

Status check_model_components(const ModelSpec& model, const Registry& registry, std::int64_t batch) {
  const llmrt_layer_context context{sizeof(llmrt_layer_context), 0, 1, LLMRT_DTYPE_F32, 0, LLMRT_RECOMPUTE_NONE};
  // Every layer (creating one holds no parameters): their specs and ties are checked, and the
  // shape walk runs down the whole chain, so an infer_shapes mistake stops `check`, not `run`.
  const int layer_count = static_cast<int>(expand_layers(model).size());
  LLMRT_ASSIGN_OR_RETURN(const auto layers, create_layers(model, registry, 0, layer_count, context));
  if (layers.empty()) return Status::success();
  LLMRT_RETURN_IF_ERROR(layer_output_shapes(layers, batch, model.seq_len.value));
  // After the shapes: a width written wrong in the config shows as a shape first, which says more.
  return check_param_ties(model, layers);
}

std::int32_t compute_dtype_of(Precision precision) {
  switch (precision) {
    case Precision::kBf16: return LLMRT_DTYPE_BF16;
    case Precision::kFp16: return LLMRT_DTYPE_F16;
    case Precision::kAuto: return LLMRT_DTYPE_BF16;  // for sizing only: bf16 and f16 take the same bytes
    case Precision::kFp32: break;
  }
  return LLMRT_DTYPE_F32;
}

std::int32_t rank_compute_dtype(const Device& device, Precision precision) {
  return compute_dtype_of(device_precision(device, precision));
}

std::int32_t device_type_of(const Device& device) {
  return device.model->is_cpu ? LLMRT_DEVICE_CPU : LLMRT_DEVICE_CUDA;
}

Result<std::string> layer_support_problem(const LayerSlot& layer, std::int32_t device_type,
                                          std::string_view device_label, std::int32_t dtype) {
  LLMRT_ASSIGN_OR_RETURN(const std::string reason, layer_supports(layer.instance, device_type, dtype));
  if (reason.empty()) return reason;
  return fmt::format("{} (component '{}', plugin {}) does not run on {} with {} activations: {}", layer.label,
                     layer.component->name, layer.component->plugin->path, device_label, dtype_name(dtype), reason);
}

Status check_layer_support(const ModelSpec& model, const Registry& registry, const Topology& topology,
                           Precision precision, bool played_by_cpu, Recompute train_recompute) {
  // One device per (device type, dtype) is enough: the answer depends on those, not the model.
  std::map<std::pair<std::int32_t, std::int32_t>, std::string> labels;
  for (const Device& device : topology.devices()) {
    const std::int32_t type = played_by_cpu ? LLMRT_DEVICE_CPU : device_type_of(device);
    const std::string label = played_by_cpu ? fmt::format("a CPU rank playing {}", device.model->name) : device_label(device);
    labels.emplace(std::make_pair(type, rank_compute_dtype(device, precision)), label);
  }
  int first = 0;
  for (const LayerSpec& layer : model.layers) {
    for (const auto& [key, label] : labels) {
      const auto [type, dtype] = key;
      const llmrt_layer_context context{sizeof(llmrt_layer_context), 0, 1, dtype, 0, LLMRT_RECOMPUTE_NONE};
      // In the mode it will run in: a layer may support a device in one mode and not another
      // (gpt.block's selective recompute is CPU-only).
      LLMRT_ASSIGN_OR_RETURN(std::vector<LayerSlot> slots,
                             create_layers(model, registry, first, first + 1, context, train_recompute));
      LLMRT_ASSIGN_OR_RETURN(const std::string problem, layer_support_problem(slots.front(), type, label, dtype));
      if (!problem.empty()) return input_error("{}: {}", layer.pos.describe(), problem);
    }
    first += layer.repeat;
  }
  return Status::success();
}

LayerSupportFn make_layer_support_fn(const ModelSpec& model, const Registry& registry, Precision precision) {
  struct Cache {
    std::mutex mutex;  // the planner may evaluate layouts on several threads
    std::map<int, Result<std::vector<LayerSlot>>> entries;                // [[model.layer]] index → one instance
    std::map<std::pair<int, std::string>, Result<std::string>> answers;  // (entry, device model) → problem
  };
  auto cache = std::make_shared<Cache>();
  auto entries = std::make_shared<const std::vector<LayerPlanEntry>>(expand_layers(model));
  return [cache, entries, &model, &registry, precision](int layer, const Device& device) -> Result<std::string> {
    const std::int32_t dtype = rank_compute_dtype(device, precision);
    std::lock_guard<std::mutex> lock(cache->mutex);
    const int entry = entries->at(static_cast<std::size_t>(layer)).spec_index;
    const auto key = std::make_pair(entry, device.model->name);
    auto answer = cache->answers.find(key);
    if (answer != cache->answers.end()) return answer->second;
    auto slots = cache->entries.find(entry);
    if (slots == cache->entries.end()) {
      const int first = layer - entries->at(static_cast<std::size_t>(layer)).repeat_index;
      // The instance is created at the job's nominal dtype; supports() is asked about this device's.
      const llmrt_layer_context context{sizeof(llmrt_layer_context), 0, 1, compute_dtype_of(precision), 0,
                                              LLMRT_RECOMPUTE_NONE};
      slots = cache->entries.emplace(entry, create_layers(model, registry, first, first + 1, context)).first;
    }
    if (!slots->second.ok()) return slots->second.error();
    auto problem = layer_support_problem(slots->second->front(), device_type_of(device), device_label(device), dtype);
    return cache->answers.emplace(key, std::move(problem)).first->second;
  };
}

Result<double> component_number(const Component& component, const ComponentSpec& spec, const std::string& key) {
  auto written = spec.params.find(key);
  if (written != spec.params.end()) {
    if (const auto* number = std::get_if<double>(&written->second.value)) return *number;
    if (const auto* integer = std::get_if<std::int64_t>(&written->second.value)) return static_cast<double>(*integer);
  }
  for (const ConfigKeyDecl& declared : component.keys) {
    if (declared.name != key || !declared.default_value) continue;
    LLMRT_ASSIGN_OR_RETURN(auto value, parse_default_value(declared));
    if (const auto* number = std::get_if<double>(&value)) return *number;
    if (const auto* integer = std::get_if<std::int64_t>(&value)) return static_cast<double>(*integer);
  }
  return input_error("{}: component '{}' declares no number '{}' (every optimizer declares its base lr)",
                     spec.pos.describe(), component.name, key);
}

}  // namespace llmrt
