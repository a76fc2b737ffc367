// What `llmrt check` says about the model: layers and parameter counts. Until the layer
// plugins land (plugin and compute issues), the gpt.* components are counted here from
// their documented keys; other components are listed without a count.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/spec.h"
#include "util/status.h"

namespace llmrt {

struct LayerSummary {
  std::string component;
  int repeat = 1;
  std::int64_t params_each = -1;  // -1: unknown until the component's plugin is loaded
};

struct ModelSummary {
  std::vector<LayerSummary> layers;
  std::int64_t total_params = 0;  // of the layers that could be counted
  int total_layers = 0;           // after repeat
  bool complete = true;           // every layer counted
};

Result<ModelSummary> summarize_model(const ModelSpec& model);
std::string format_model_summary(const ModelSpec& model, const ModelSummary& summary);

}  // namespace llmrt
