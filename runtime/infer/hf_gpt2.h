// The Hugging Face GPT-2 layout (transformers' GPT2LMHeadModel) of an llmrt model built from
// gpt.embedding, gpt.block × L and a tied gpt.head: tensor names ("h.3.attn.c_attn.weight"),
// Conv1D's (in, out) weights where llmrt stores (out, in), config.json. Both ways: export
// (`llmrt ckpt export SOURCE OUT --format hf`) and init_from of GPT-2 weights.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ckpt/model_tensors.h"
#include "ckpt/safetensors.h"
#include "config/spec.h"
#include "exec/model_layers.h"
#include "plugin/registry.h"
#include "util/status.h"

namespace llmrt {

// One parameter in both layouts. transpose: the llmrt tensor viewed as (rows, last dim) is the
// HF tensor transposed (qkv_w (3, C, C) is c_attn's (C, 3C)); otherwise the same values in
// row-major order under another shape (qkv_b (3, C) is c_attn's bias (3C)).
// vocab_rows: the real rows of a padded vocabulary tensor (wte of Vp rows under
// model.vocab_pad_multiple): GPT-2 has only those, so export drops the padding and import
// appends zero rows. 0 = the same rows in both.
struct Gpt2Tensor {
  std::string llmrt_name, hf_name;  // hf_name without the "transformer." prefix
  std::vector<std::int64_t> llmrt_shape, hf_shape;
  bool transpose = false;
  std::int64_t vocab_rows = 0;
};

// The sizes config.json carries.
struct Gpt2Shape {
  std::int64_t vocab = 0, positions = 0, channels = 0, layers = 0, heads = 0;
};

struct Gpt2Map {
  Gpt2Shape shape;
  std::vector<Gpt2Tensor> tensors;
};

// The mapping for `model`, or an input error saying why it is not GPT-2 shaped (another layer
// kind or order, an untied head, blocks of different widths...).
Result<Gpt2Map> gpt2_map(const ModelSpec& model, const Registry& registry);

// OUT/config.json and OUT/model.safetensors ("transformer."-prefixed names, F32) from global
// tensors with llmrt names. OUT is created; an existing OUT/config.json is refused.
Status write_hf_gpt2(const ModelTensors& tensors, const ModelSpec& model, const Registry& registry,
                     const std::string& out_dir);

// True when the file holds GPT-2 names ("wte.weight", with or without "transformer.").
bool is_hf_gpt2(const SafetensorsFile& file);
// The file's GPT-2 tensors as llmrt tensors of `model` (lm_head.weight and attention-mask
// buffers ignored). A missing tensor or another shape is an input error naming the file, the
// tensor and both shapes.
Result<ModelTensors> read_hf_gpt2(const SafetensorsFile& file, const ModelSpec& model, const Registry& registry);

}  // namespace llmrt
