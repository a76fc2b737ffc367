#include "exec/recompute.h"

#include <map>

#include <fmt/format.h>

#include "exec/model_layers.h"

namespace llmrt {
namespace {

// "declares no recompute" / "declares no selective recompute": why a layer keeps its state.
std::string_view missing_flag(Recompute mode) {
  return mode == Recompute::kSelective ? "declares no selective recompute (LLMRT_LAYER_RECOMPUTE_SELECTIVE)"
                                       : "declares no full recompute (LLMRT_LAYER_RECOMPUTE_FULL)";
}

// The mode of every [[model.layer]] entry under `train_mode` (cached lookups: one per entry).
Result<std::vector<Recompute>> entry_modes(const ModelSpec& model, const Registry& registry, Recompute train_mode) {
  std::vector<Recompute> modes;
  for (const LayerSpec& layer : model.layers) {
    LLMRT_ASSIGN_OR_RETURN(const Component* component,
                           registry.lookup(layer.component.value, LLMRT_KIND_LAYER, layer.component.pos.describe()));
    LLMRT_ASSIGN_OR_RETURN(const Recompute mode, layer_recompute(layer, *component, train_mode));
    modes.push_back(mode);
  }
  return modes;
}

}  // namespace

bool declares_recompute(const Component& component, Recompute mode) {
  const std::uint32_t flags = component.layer().flags;
  switch (mode) {
    case Recompute::kFull: return (flags & LLMRT_LAYER_RECOMPUTE_FULL) != 0;
    case Recompute::kSelective: return (flags & LLMRT_LAYER_RECOMPUTE_SELECTIVE) != 0;
    case Recompute::kNone: return true;
    case Recompute::kAuto: break;
  }
  return false;
}

Result<Recompute> layer_recompute(const LayerSpec& layer, const Component& component, Recompute train_mode) {
  if (layer.recompute.value) {
    const Recompute own = *layer.recompute.value;
    if (!declares_recompute(component, own)) {
      return input_error("{}: {} recompute asked of component '{}' (plugin {}), which {}: set it to \"none\" or "
                         "remove the key",
                         layer.recompute.pos.describe(), recompute_name(own), component.name,
                         component.plugin != nullptr ? component.plugin->path : std::string("built in"),
                         missing_flag(own));
    }
    return own;
  }
  if (train_mode == Recompute::kAuto) train_mode = Recompute::kNone;  // sizing before the planner chose
  return declares_recompute(component, train_mode) ? train_mode : Recompute::kNone;
}

Result<std::string> recompute_note(const ModelSpec& model, const Registry& registry, Recompute train_mode) {
  LLMRT_ASSIGN_OR_RETURN(const std::vector<Recompute> modes, entry_modes(model, registry, train_mode));
  if (train_mode == Recompute::kNone) return std::string();
  std::vector<std::string> keeping;
  for (std::size_t i = 0; i < model.layers.size(); ++i) {
    const LayerSpec& layer = model.layers[i];
    if (layer.recompute.value || modes[i] == train_mode) continue;
    keeping.push_back(fmt::format("{} {}{} keeps its activations: it {}", layer.pos.key_path, layer.component.value,
                                  layer.repeat > 1 ? fmt::format(" (×{})", layer.repeat) : "",
                                  missing_flag(train_mode)));
  }
  if (keeping.empty()) return std::string();
  return fmt::format("recompute \"{}\" (train.recompute): {}", recompute_name(train_mode), fmt::join(keeping, "; "));
}

Result<std::string> recompute_summary(const ModelSpec& model, const Registry& registry, const Layout& layout) {
  LLMRT_ASSIGN_OR_RETURN(const std::vector<Recompute> modes, entry_modes(model, registry, layout.recompute));
  const std::vector<LayerPlanEntry> entries = expand_layers(model);
  std::vector<std::string> stages;
  for (int vs = 0; vs < static_cast<int>(layout.stage_layers.size()); ++vs) {
    std::map<Recompute, int> counts;
    const int first = layout.first_layer(vs);
    for (int i = first; i < first + layout.stage_layers[static_cast<std::size_t>(vs)]; ++i) {
      ++counts[modes.at(static_cast<std::size_t>(entries.at(static_cast<std::size_t>(i)).spec_index))];
    }
    std::vector<std::string> parts;
    for (const auto& [mode, count] : counts) {
      parts.push_back(counts.size() == 1 ? std::string(recompute_name(mode))
                                         : fmt::format("{} ×{}", recompute_name(mode), count));
    }
    stages.push_back(fmt::format("stage {} {}", vs, parts.empty() ? "(no layers)" : fmt::format("{}", fmt::join(parts, " + "))));
  }
  return fmt::format("recompute: {}", fmt::join(stages, ", "));
}

}  // namespace llmrt
