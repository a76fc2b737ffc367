// [model] and plugin components: the layer stack, and the keys each component passes to its plugin.
#include <algorithm>
#include <filesystem>

#include "config/limits.h"
#include "config/read_spec.h"

namespace llmrt {
namespace {

std::optional<ParamValue> read_param_array(const toml::array& array) {
  if (array.empty()) return ParamValue(std::vector<double>{});
  if (array.is_homogeneous(toml::node_type::string)) {
    std::vector<std::string> values;
    for (const auto& element : array) values.push_back(element.as_string()->get());
    return ParamValue(std::move(values));
  }
  if (array.is_homogeneous(toml::node_type::integer)) {
    std::vector<std::int64_t> values;
    for (const auto& element : array) values.push_back(element.as_integer()->get());
    return ParamValue(std::move(values));
  }
  std::vector<double> numbers;
  for (const auto& element : array) {
    if (const auto* integer = element.as_integer()) numbers.push_back(static_cast<double>(integer->get()));
    else if (const auto* number = element.as_floating_point()) numbers.push_back(number->get());
    else return std::nullopt;
  }
  return ParamValue(std::move(numbers));
}

std::optional<ParamValue> read_param(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::boolean: return ParamValue(node.as_boolean()->get());
    case toml::node_type::integer: return ParamValue(node.as_integer()->get());
    case toml::node_type::floating_point: return ParamValue(node.as_floating_point()->get());
    case toml::node_type::string: return ParamValue(node.as_string()->get());
    case toml::node_type::array: return read_param_array(*node.as_array());
    default: return std::nullopt;
  }
}

// Paths in plugin_paths are relative to the file that names them, like includes.
std::string resolve_against_file(const std::string& path, const SourcePos& pos) {
  namespace fs = std::filesystem;
  if (fs::path(path).is_absolute() || pos.file.empty() || pos.file == "--set") return path;
  return (fs::path(pos.file).parent_path() / path).lexically_normal().string();
}

}  // namespace

ComponentSpec read_component(TableReader table, std::string_view default_component,
                             const std::vector<std::string>& reserved_keys) {
  ComponentSpec spec;
  spec.pos = table.pos();
  spec.component.value = default_component.empty()
                             ? table.required_string("component", "a registered component name, e.g. \"gpt.block\"")
                             : table.string_or("component", std::string(default_component));
  spec.component.pos = table.pos_of("component");
  for (const std::string& key : table.keys()) {
    if (key == "component" || std::find(reserved_keys.begin(), reserved_keys.end(), key) != reserved_keys.end()) continue;
    const toml::node& node = *table.node(key);
    auto value = read_param(node);
    if (!value) {
      table.fail(key, fmt::format("a component key takes a boolean, number, string or array of them, found {}",
                                  describe_found(node)));
      continue;
    }
    spec.params.emplace(key, Located<ParamValue>{std::move(*value), table.pos_of(key)});
  }
  return spec;
}

ModelSpec read_model(TableReader model) {
  ModelSpec spec;
  spec.pos = model.pos();
  spec.name = model.string_or("name", "gpt");
  spec.seq_len = {model.required_positive("seq_len", "tokens per sequence"), model.pos_of("seq_len")};
  spec.vocab_size = {model.required_positive("vocab_size", "token ids are below it"), model.pos_of("vocab_size")};
  model.check_at_most("seq_len", spec.seq_len.value, kMaxSeqLen, "tokens per sequence");
  model.check_at_most("vocab_size", spec.vocab_size.value, kMaxVocabSize, "token ids");
  spec.vocab_pad_multiple = {model.positive_or("vocab_pad_multiple", 1), model.pos_of("vocab_pad_multiple")};
  model.check_at_most("vocab_pad_multiple", spec.vocab_pad_multiple.value, kMaxVocabPadMultiple,
                      "rows the padded vocabulary rounds up to");
  // Refused above; 1 keeps padded_vocab() meaningful for whatever still reads the spec.
  if (spec.vocab_pad_multiple.value < 1 || spec.vocab_pad_multiple.value > kMaxVocabPadMultiple) {
    spec.vocab_pad_multiple.value = 1;
  }
  if (auto init_from = model.string("init_from"); init_from && !init_from->empty()) {
    spec.init_from = {resolve_against_file(*init_from, model.pos_of("init_from")), model.pos_of("init_from")};
  }
  if (auto paths = model.strings("plugin_paths")) {
    const toml::array& array = *model.node("plugin_paths")->as_array();
    for (std::size_t i = 0; i < paths->size(); ++i) {
      spec.plugin_paths.push_back(resolve_against_file((*paths)[i], position_of(*array.get(i), "")));
    }
  }
  if (model.present() && !model.has("layer")) {
    model.fail("layer", "missing required key 'layer': list the model's layers with [[model.layer]]");
  }
  for (TableReader& layer : model.tables("layer")) {
    LayerSpec layer_spec;
    static_cast<ComponentSpec&>(layer_spec) = read_component(layer, "", {"repeat", "recompute"});
    layer_spec.repeat = layer.positive_int_or("repeat", 1);
    if (layer.has("recompute")) {
      constexpr Recompute kModes[] = {Recompute::kNone, Recompute::kSelective, Recompute::kFull};
      layer_spec.recompute = {kModes[layer.choice_or("recompute", {"none", "selective", "full"}, 0)],
                              layer.pos_of("recompute")};
    }
    layer.check_at_most("repeat", layer_spec.repeat, kMaxLayers, "layers in a model");
    spec.layers.push_back(std::move(layer_spec));
  }
  std::int64_t layers = 0;
  for (const LayerSpec& layer : spec.layers) layers += layer.repeat;
  if (spec.layers.size() > 1) model.check_at_most("layer", layers, kMaxLayers, "layers in a model, repeats counted");
  if (model.present() && model.has("layer") && spec.layers.empty()) model.fail("layer", "expected at least one [[model.layer]]");
  return spec;
}

}  // namespace llmrt
