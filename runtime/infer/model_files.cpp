#include "infer/model_files.h"

#include <fmt/format.h>

#include "ckpt/safetensors.h"
#include "exec/param_store.h"
#include "exec/vocab_rows.h"
#include "infer/hf_gpt2.h"
#include "infer/inference_model.h"

namespace llmrt {
namespace {

// "wte" or "lm_head_w" of another vocabulary: the one mismatch with an obvious fix.
std::string vocab_hint(const std::string& name, const std::vector<std::int64_t>& found,
                       const std::vector<std::int64_t>& needed) {
  const bool projection = name == "wte" || name.ends_with(".lm_head_w");
  if (!projection || found.size() != 2 || needed.size() != 2 || found[1] != needed[1]) return "";
  return fmt::format(" (the file's vocabulary is {}: set [model].vocab_size = {})", found[0], found[0]);
}

Result<ModelTensors> read_llmrt_file(const SafetensorsFile& file, const ModelSpec& model, const Registry& registry,
                                     bool values) {
  LLMRT_ASSIGN_OR_RETURN(std::vector<LayerSlot> slots, create_model_layers(model, registry));
  LLMRT_ASSIGN_OR_RETURN(ParamStore store, ParamStore::build(slots, 0, 1));
  ModelTensors tensors;
  for (const ParamEntry& entry : store.entries()) {
    auto found = file.entries().find(entry.name);
    if (found == file.entries().end()) {
      return input_error("{}: no tensor {} (the model needs it, shape {})", file.path(), entry.name,
                         shape_text(entry.global_shape));
    }
    // Another vocabulary padding (model.vocab_pad_multiple) is re-padded; any other shape is refused.
    if (found->second.shape != entry.global_shape && !repaddable(found->second.shape, entry)) {
      return input_error("{}: tensor {} has shape {}, the model needs {}{}", file.path(), entry.name,
                         shape_text(found->second.shape), shape_text(entry.global_shape),
                         vocab_hint(entry.name, found->second.shape, entry.global_shape));
    }
    GlobalTensor& tensor = tensors[entry.name];
    tensor.shape = entry.global_shape;
    if (values) {
      tensor.shape = found->second.shape;
      LLMRT_ASSIGN_OR_RETURN(tensor.values, file.read_f32(entry.name));
      LLMRT_RETURN_IF_ERROR(fit_vocab_rows(tensor, entry, file.path(), "tensor " + entry.name));
    }
  }
  return tensors;
}

}  // namespace

Result<ModelTensors> read_model_file(const std::string& path, const ModelSpec& model, const Registry& registry,
                                     bool values) {
  LLMRT_ASSIGN_OR_RETURN(SafetensorsFile file, SafetensorsFile::open(path));
  if (!is_hf_gpt2(file)) return read_llmrt_file(file, model, registry, values);
  LLMRT_ASSIGN_OR_RETURN(ModelTensors tensors, read_hf_gpt2(file, model, registry));
  return tensors;
}

Status check_init_from(const ModelSpec& model, const Registry& registry) {
  if (model.init_from.value.empty()) return Status::success();
  LLMRT_ASSIGN_OR_RETURN_CTX(ModelTensors shapes, read_model_file(model.init_from.value, model, registry, false),
                             "{}: model.init_from", model.init_from.pos.describe());
  (void)shapes;
  return Status::success();
}

Status load_init_from(const ModelSpec& model, const Registry& registry, ParamStore& params) {
  if (model.init_from.value.empty()) return Status::success();
  LLMRT_ASSIGN_OR_RETURN_CTX(ModelTensors tensors, read_model_file(model.init_from.value, model, registry),
                             "{}: model.init_from", model.init_from.pos.describe());
  return params.load_global(tensors, model.init_from.value);
}

Result<std::optional<std::string>> model_file_config(const std::string& path) {
  LLMRT_ASSIGN_OR_RETURN(SafetensorsFile file, SafetensorsFile::open(path));
  auto found = file.metadata().find("config");
  if (found == file.metadata().end()) return std::optional<std::string>();
  return std::optional<std::string>(found->second);
}

}  // namespace llmrt
