// What `llmrt sample` and `llmrt ckpt export --format hf` read a model from: a consolidated
// safetensors file (llmrt names, or GPT-2 weights) with its config — `--config FILE`, else the
// file's __metadata__ "config" (the run's resolved config) — or a checkpoint directory.
#pragma once

#include <string>

#include "ckpt/model_tensors.h"
#include "config/spec.h"
#include "plugin/registry.h"
#include "util/status.h"

namespace llmrt {

struct ModelSource {
  std::string path;
  Spec spec;
  Registry registry;
  ModelTensors tensors;
};

// Input errors name SOURCE: missing, not a model file, no config, tensors of other shapes.
Result<ModelSource> open_model_source(const std::string& path, const std::string& config_path,
                                      bool allow_insecure_plugins);

}  // namespace llmrt
