#include "infer/hf_gpt2.h"

#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "exec/param_store.h"
#include "infer/inference_model.h"

namespace llmrt {
namespace {

constexpr const char* kPrefix = "transformer.";

// Block parameter → (GPT-2 name under h.N., transposed).
struct BlockName {
  const char* llmrt;
  const char* hf;
  bool transpose;
};
constexpr BlockName kBlockNames[] = {
    {"ln1_w", "ln_1.weight", false},        {"ln1_b", "ln_1.bias", false},
    {"qkv_w", "attn.c_attn.weight", true},  {"qkv_b", "attn.c_attn.bias", false},
    {"proj_w", "attn.c_proj.weight", true}, {"proj_b", "attn.c_proj.bias", false},
    {"ln2_w", "ln_2.weight", false},        {"ln2_b", "ln_2.bias", false},
    {"fc_w", "mlp.c_fc.weight", true},      {"fc_b", "mlp.c_fc.bias", false},
    {"fc2_w", "mlp.c_proj.weight", true},   {"fc2_b", "mlp.c_proj.bias", false},
};

// GPT-2's shape of an llmrt tensor: transposed (in, out), c_attn's bias flat (3C), else the same.
std::vector<std::int64_t> hf_shape_of(const std::vector<std::int64_t>& shape, const std::string& param, bool transpose) {
  std::int64_t elements = 1;
  for (std::int64_t extent : shape) elements *= extent;
  if (transpose) return {shape.back(), elements / shape.back()};
  return param == "qkv_b" ? std::vector<std::int64_t>{elements} : shape;
}

// The GPT-2 name of one llmrt parameter of slot `slot` (its label "gpt.block[3]", component
// name), or "" when GPT-2 has none.
std::pair<std::string, bool> hf_name_of(const LayerSlot& slot, const std::string& param, int block) {
  const std::string component = slot.component->name;
  if (component == "gpt.embedding") {
    if (param == "wte") return {"wte.weight", false};
    if (param == "wpe") return {"wpe.weight", false};
  } else if (component == "gpt.block") {
    for (const BlockName& name : kBlockNames) {
      if (param == name.llmrt) return {fmt::format("h.{}.{}", block, name.hf), name.transpose};
    }
  } else if (component == "gpt.head") {
    if (param == "lnf_w") return {"ln_f.weight", false};
    if (param == "lnf_b") return {"ln_f.bias", false};
    if (param == "wte") return {"", false};  // the tie: GPT-2's lm_head is wte
  }
  return {"", false};
}

// Layer kinds and order: gpt.embedding, gpt.block × L (L >= 1), gpt.head.
Status check_gpt2_layers(const std::vector<LayerSlot>& slots) {
  for (std::size_t i = 0; i < slots.size(); ++i) {
    const std::string& name = slots[i].component->name;
    const char* expected = i == 0 ? "gpt.embedding" : i + 1 == slots.size() ? "gpt.head" : "gpt.block";
    if (name != expected) {
      return input_error("not a GPT-2 model: layer {} is {} where GPT-2 has {} (GPT-2 is gpt.embedding, "
                         "gpt.block × L, gpt.head)", i, slots[i].label, expected);
    }
  }
  if (slots.size() < 3) return input_error("not a GPT-2 model: {} layers, GPT-2 needs an embedding, blocks and a head", slots.size());
  return Status::success();
}

Result<std::int64_t> block_heads(const ModelSpec& model, const Registry& registry, std::int64_t channels) {
  std::int64_t heads = 0;
  for (std::size_t i = 0; i < model.layers.size(); ++i) {
    const LayerSpec& layer = model.layers[i];
    if (layer.component.value != "gpt.block") continue;
    const Component* component = registry.find(layer.component.value);
    LLMRT_ASSIGN_OR_RETURN(double value, component_number(*component, with_model_keys(model, int(i), *component), "heads"));
    if (heads != 0 && static_cast<std::int64_t>(value) != heads) {
      return input_error("not a GPT-2 model: blocks with {} and {} heads", heads, value);
    }
    heads = static_cast<std::int64_t>(value);
  }
  if (heads <= 0 || channels % heads != 0) return input_error("not a GPT-2 model: heads = {}", heads);
  return heads;
}

}  // namespace

Result<Gpt2Map> gpt2_map(const ModelSpec& model, const Registry& registry) {
  LLMRT_ASSIGN_OR_RETURN(std::vector<LayerSlot> slots, create_model_layers(model, registry));
  LLMRT_RETURN_IF_ERROR(check_gpt2_layers(slots));
  LLMRT_ASSIGN_OR_RETURN(ParamStore store, ParamStore::build(slots, 0, 1));
  Gpt2Map map;
  for (std::size_t s = 0; s < slots.size(); ++s) {
    const int block = static_cast<int>(s) - 1;
    for (std::size_t p = 0; p < slots[s].params.size(); ++p) {
      const ParamEntry& entry = store.entries().at(store.slot_entries(s).at(p));
      const std::string param = slots[s].params[p].name;
      if (slots[s].component->name == "gpt.head" && param == "lm_head_w") {
        return input_error("not a GPT-2 model: {} is not tied to the embedding (set tied_embedding = true); "
                           "GPT-2's lm_head is wte", slots[s].label);
      }
      auto [hf_name, transpose] = hf_name_of(slots[s], param, block);
      if (hf_name.empty()) {
        if (param == "wte") continue;
        return input_error("not a GPT-2 model: {} has a parameter {} GPT-2 does not", slots[s].label, param);
      }
      std::vector<std::int64_t> hf_shape = hf_shape_of(entry.global_shape, param, transpose);
      const bool padded = entry.vocab_rows > 0 && entry.vocab_rows != entry.global_shape.at(0);
      if (padded) hf_shape.at(0) = entry.vocab_rows;  // GPT-2's wte has the real rows only
      map.tensors.push_back({entry.name, hf_name, entry.global_shape, std::move(hf_shape), transpose,
                             padded ? entry.vocab_rows : 0});
    }
    if (slots[s].component->name == "gpt.head" && slots[s].params.size() != 3) {
      return input_error("not a GPT-2 model: {} has {} parameters, GPT-2's head has lnf_w, lnf_b and the tied wte",
                         slots[s].label, slots[s].params.size());
    }
  }
  const auto& wte = map.tensors.front();
  map.shape = {model.vocab_size.value, model.seq_len.value, wte.llmrt_shape.at(1),
               static_cast<std::int64_t>(slots.size()) - 2, 0};
  LLMRT_ASSIGN_OR_RETURN(map.shape.heads, block_heads(model, registry, map.shape.channels));
  if (map.tensors.size() != 2 + 12 * static_cast<std::size_t>(map.shape.layers) + 2) {
    return input_error("not a GPT-2 model: {} tensors where GPT-2 with {} blocks has {}", map.tensors.size(),
                       map.shape.layers, 4 + 12 * map.shape.layers);
  }
  return map;
}

namespace {

// to: the HF layout of `from` (llmrt) per `tensor`, or back when !to_hf.
std::vector<float> convert(const std::vector<float>& from, const Gpt2Tensor& tensor, bool to_hf) {
  if (tensor.vocab_rows > 0) {  // (Vp, C) <-> (V, C): the padded rows dropped, or zeros appended
    std::vector<float> out = from;
    const std::size_t rows = static_cast<std::size_t>(to_hf ? tensor.vocab_rows : tensor.llmrt_shape.at(0));
    out.resize(rows * static_cast<std::size_t>(tensor.llmrt_shape.back()), 0.0f);
    return out;
  }
  if (!tensor.transpose) return from;
  // llmrt (rows, cols) <-> HF (cols, rows)
  const std::size_t cols = static_cast<std::size_t>(tensor.llmrt_shape.back());
  const std::size_t rows = from.size() / cols;
  std::vector<float> out(from.size());
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t c = 0; c < cols; ++c) {
      if (to_hf) out[c * rows + r] = from[r * cols + c];
      else out[r * cols + c] = from[c * rows + r];
    }
  }
  return out;
}

std::string config_json(const Gpt2Shape& shape) {
  // GELU is GPT-2's tanh approximation (gelu_new), LayerNorm's epsilon 1e-5 (kernels/cpu).
  const nlohmann::json config = {
      {"architectures", {"GPT2LMHeadModel"}}, {"model_type", "gpt2"},
      {"vocab_size", shape.vocab},            {"n_positions", shape.positions},
      {"n_ctx", shape.positions},             {"n_embd", shape.channels},
      {"n_layer", shape.layers},              {"n_head", shape.heads},
      {"n_inner", nullptr},                   {"activation_function", "gelu_new"},
      {"layer_norm_epsilon", 1e-5},           {"initializer_range", 0.02},
      {"resid_pdrop", 0.0},                   {"embd_pdrop", 0.0},
      {"attn_pdrop", 0.0},                    {"scale_attn_weights", true},
      {"tie_word_embeddings", true},          {"torch_dtype", "float32"},
      {"use_cache", true}};
  return config.dump(2) + "\n";
}

}  // namespace

Status write_hf_gpt2(const ModelTensors& tensors, const ModelSpec& model, const Registry& registry,
                     const std::string& out_dir) {
  namespace fs = std::filesystem;
  LLMRT_ASSIGN_OR_RETURN(Gpt2Map map, gpt2_map(model, registry));
  std::vector<std::vector<float>> values;
  values.reserve(map.tensors.size());
  std::vector<SafetensorsView> views;
  for (const Gpt2Tensor& tensor : map.tensors) {
    auto found = tensors.find(tensor.llmrt_name);
    if (found == tensors.end()) return input_error("the model has no tensor {}", tensor.llmrt_name);
    if (found->second.shape != tensor.llmrt_shape) {
      return input_error("tensor {}: shape {} where the config's model has {}", tensor.llmrt_name,
                         shape_text(found->second.shape), shape_text(tensor.llmrt_shape));
    }
    values.push_back(convert(found->second.values, tensor, /*to_hf=*/true));
    views.push_back({kPrefix + tensor.hf_name, "F32", tensor.hf_shape, std::as_bytes(std::span(values.back()))});
  }
  std::error_code error;
  fs::create_directories(out_dir, error);
  if (error) return input_error("{}: cannot create the folder: {}", out_dir, error.message());
  const fs::path config_path = fs::path(out_dir) / "config.json";
  if (fs::exists(config_path)) return input_error("{}: already exists; export into a new folder", config_path.string());
  auto written = write_safetensors((fs::path(out_dir) / "model.safetensors").string(), views, {{"format", "pt"}});
  if (!written.ok()) return written.error();
  std::ofstream config(config_path);
  config << config_json(map.shape);
  config.close();
  if (!config) return runtime_error("{}: cannot write", config_path.string());
  return Status::success();
}

bool is_hf_gpt2(const SafetensorsFile& file) {
  return file.contains("wte.weight") || file.contains(std::string(kPrefix) + "wte.weight");
}

Result<ModelTensors> read_hf_gpt2(const SafetensorsFile& file, const ModelSpec& model, const Registry& registry) {
  LLMRT_ASSIGN_OR_RETURN_CTX(Gpt2Map map, gpt2_map(model, registry), "{}: GPT-2 weights for this model",
                             file.path());
  const std::string prefix = file.contains(std::string(kPrefix) + "wte.weight") ? kPrefix : "";
  ModelTensors tensors;
  for (const Gpt2Tensor& tensor : map.tensors) {
    const std::string name = prefix + tensor.hf_name;
    auto entry = file.entries().find(name);
    if (entry == file.entries().end()) return input_error("{}: no tensor {} (GPT-2 weights)", file.path(), name);
    if (entry->second.shape != tensor.hf_shape) {
      std::string hint = tensor.hf_name == "wte.weight" && entry->second.shape.size() == 2 &&
                                 entry->second.shape[1] == tensor.hf_shape[1]
                             ? fmt::format(" (set [model].vocab_size = {})", entry->second.shape[0])
                             : "";
      return input_error("{}: tensor {} has shape {}, the model needs {} (for {}){}", file.path(), name,
                         shape_text(entry->second.shape), shape_text(tensor.hf_shape), tensor.llmrt_name, hint);
    }
    LLMRT_ASSIGN_OR_RETURN(std::vector<float> values, file.read_f32(name));
    tensors[tensor.llmrt_name] = GlobalTensor{tensor.llmrt_shape, convert(values, tensor, /*to_hf=*/false)};
  }
  return tensors;
}

}  // namespace llmrt
