#include "cli/model_summary.h"

#include <fmt/format.h>

namespace llmrt {
namespace {

// A positive integer key of a component, or `fallback` when absent.
Result<std::int64_t> positive_param(const ComponentSpec& layer, const std::string& key, std::int64_t fallback) {
  auto it = layer.params.find(key);
  if (it == layer.params.end()) {
    if (fallback > 0) return fallback;
    return input_error("{}: layer '{}' needs '{}'", layer.pos.describe(), layer.component.value, key);
  }
  const auto* value = std::get_if<std::int64_t>(&it->second.value);
  if (!value || *value <= 0) return input_error("{}: expected a positive integer", it->second.pos.describe());
  return *value;
}

bool flag_param(const ComponentSpec& layer, const std::string& key, bool fallback) {
  auto it = layer.params.find(key);
  const bool* value = it == layer.params.end() ? nullptr : std::get_if<bool>(&it->second.value);
  return value ? *value : fallback;
}

// GPT-2's parameter counts: wte V·C + wpe T·C; a block 12·C² + 13·C; the head's final
// layernorm 2·C plus V·C when the output projection is not tied to wte.
Result<std::int64_t> count_gpt_layer(const ModelSpec& model, const LayerSpec& layer, std::int64_t& d_model) {
  auto width = positive_param(layer, "d_model", d_model);
  if (!width) return width.error();
  d_model = *width;
  const std::int64_t C = d_model, V = model.vocab_size.value, T = model.seq_len.value;
  const std::string& name = layer.component.value;
  if (name == "gpt.embedding") return V * C + T * C;
  if (name == "gpt.head") return 2 * C + (flag_param(layer, "tied_embedding", true) ? 0 : V * C);
  auto heads = positive_param(layer, "heads", 0);
  if (!heads) return heads.error();
  if (C % *heads != 0) {
    return input_error("{}: layer '{}': heads = {} does not divide d_model = {}", layer.params.at("heads").pos.describe(),
                       name, *heads, C);
  }
  return 12 * C * C + 13 * C;
}

}  // namespace

Result<ModelSummary> summarize_model(const ModelSpec& model) {
  ModelSummary summary;
  std::int64_t d_model = 0;  // carried from layer to layer when a layer omits it
  for (const LayerSpec& layer : model.layers) {
    LayerSummary entry{layer.component.value, layer.repeat, -1};
    const std::string& name = layer.component.value;
    if (name == "gpt.embedding" || name == "gpt.block" || name == "gpt.head") {
      auto params = count_gpt_layer(model, layer, d_model);
      if (!params) return params.error();
      entry.params_each = *params;
      summary.total_params += *params * layer.repeat;
    } else {
      summary.complete = false;
    }
    summary.total_layers += layer.repeat;
    summary.layers.push_back(entry);
  }
  return summary;
}

std::string format_model_summary(const ModelSpec& model, const ModelSummary& summary) {
  std::string text = fmt::format("model {}: {} layers, seq_len {}, vocab_size {}\n", model.name, summary.total_layers,
                                 model.seq_len.value, model.vocab_size.value);
  for (const LayerSummary& layer : summary.layers) {
    const std::string count = layer.params_each < 0 ? std::string("(counted when its plugin loads)")
                                                    : fmt::format("{:>12} parameters each", layer.params_each);
    text += fmt::format("  {:<16} x{:<3} {}\n", layer.component, layer.repeat, count);
  }
  text += fmt::format("  parameters: {} ({:.1f} M){}\n", summary.total_params, summary.total_params / 1e6,
                      summary.complete ? "" : ", not counting plugin layers");
  return text;
}

}  // namespace llmrt
