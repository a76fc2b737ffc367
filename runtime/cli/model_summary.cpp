#include "cli/model_summary.h"

#include <set>

#include <fmt/format.h>

#include "exec/model_layers.h"

namespace llmrt {

Result<ModelSummary> summarize_model(const ModelSpec& model, const Registry& registry) {
  ModelSummary summary;
  std::set<std::string> tied_seen;
  const llmrt_layer_context context{sizeof(llmrt_layer_context), 0, 1, LLMRT_DTYPE_F32, 0, LLMRT_RECOMPUTE_NONE};
  int first = 0;
  for (const LayerSpec& layer : model.layers) {
    LLMRT_ASSIGN_OR_RETURN(auto slots, create_layers(model, registry, first, first + 1, context));
    LayerSummary entry{layer.component.value, layer.repeat, 0};
    std::int64_t tied_once = 0;
    for (const llmrt_param_spec& spec : slots.front().params) {
      std::int64_t count = 1;
      for (int d = 0; d < spec.rank; ++d) count *= spec.shape[d];
      if (spec.tie_name && !tied_seen.insert(spec.tie_name).second) continue;  // another layer holds it
      if (spec.tie_name) tied_once += count;
      else entry.params_each += count;
    }
    summary.total_params += entry.params_each * layer.repeat + tied_once;
    entry.params_each += tied_once;
    summary.total_layers += layer.repeat;
    summary.layers.push_back(entry);
    first += layer.repeat;
  }
  return summary;
}

std::string format_model_summary(const ModelSpec& model, const ModelSummary& summary) {
  std::string text = fmt::format("model {}: {} layers, seq_len {}, vocab_size {}{}\n", model.name, summary.total_layers,
                                 model.seq_len.value, model.vocab_size.value,
                                 model.padded_vocab() == model.vocab_size.value
                                     ? std::string()
                                     : fmt::format(" (padded to {}: model.vocab_pad_multiple = {})",
                                                   model.padded_vocab(), model.vocab_pad_multiple.value));
  for (const LayerSummary& layer : summary.layers) {
    text += fmt::format("  {:<16} x{:<3} {:>12} parameters each\n", layer.component, layer.repeat, layer.params_each);
  }
  text += fmt::format("  parameters: {} ({:.1f} M)\n", summary.total_params, summary.total_params / 1e6);
  return text;
}

}  // namespace llmrt
