// Model files as global tensors: a consolidated llmrt safetensors file (ParamEntry names, fp32,
// the run's resolved config as __metadata__ "config") or Hugging Face GPT-2 weights, read for
// a given model with every shape checked. What init_from, `llmrt sample` and the exports read.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "ckpt/model_tensors.h"
#include "config/spec.h"
#include "exec/param_store.h"
#include "plugin/registry.h"
#include "util/status.h"

namespace llmrt {

// The tensors of `path` for `model`, in llmrt names and layouts: an llmrt file as it is, GPT-2
// weights mapped (infer/hf_gpt2.h). Every parameter of the model must be there at its global
// shape; otherwise an input error naming the file, the tensor and both shapes (a wte of
// another vocabulary suggests [model].vocab_size). With values = false only the header is read
// and the tensors carry shapes (for `llmrt check`).
Result<ModelTensors> read_model_file(const std::string& path, const ModelSpec& model, const Registry& registry,
                                     bool values = true);

// model.init_from: its file exists and holds every parameter of the model at its global shape
// (headers only); an input error naming the key, the file, the tensor and both shapes. `check`
// and `run` call it before anything starts. Success when init_from is "".
Status check_init_from(const ModelSpec& model, const Registry& registry);
// Loads model.init_from into `params` (this rank's slices) in place of the seeded init.
Status load_init_from(const ModelSpec& model, const Registry& registry, ParamStore& params);


// The __metadata__ "config" entry of an llmrt model file, if any.
Result<std::optional<std::string>> model_file_config(const std::string& path);

}  // namespace llmrt
