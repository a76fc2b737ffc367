// What `llmrt check` says about the model: its layers and parameter counts, from each layer
// plugin's own parameter specs (tied parameters counted once).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/spec.h"
#include "plugin/registry.h"
#include "util/status.h"

namespace llmrt {

struct LayerSummary {
  std::string component;
  int repeat = 1;
  std::int64_t params_each = 0;  // global parameters of one copy, tied ones only where first declared
};

struct ModelSummary {
  std::vector<LayerSummary> layers;
  std::int64_t total_params = 0;
  int total_layers = 0;  // after repeat
};

// Creates one instance of each [[model.layer]] entry through its plugin (checking its config).
Result<ModelSummary> summarize_model(const ModelSpec& model, const Registry& registry);
std::string format_model_summary(const ModelSpec& model, const ModelSummary& summary);

}  // namespace llmrt
