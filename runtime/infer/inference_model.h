// The model for generation on one CPU rank: every layer of [model] created through its plugin
// (fp32, tp = 1, no pipeline), the weights loaded from global tensors, and a forward pass that
// returns logits instead of a loss (the head called without targets: docs/plugins.md). No KV
// cache: each call recomputes the whole context, cropped to seq_len.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ckpt/model_tensors.h"
#include "config/spec.h"
#include "exec/model_layers.h"
#include "exec/param_store.h"
#include "plugin/registry.h"
#include "util/status.h"

namespace llmrt {

class InferenceModel {
 public:
  // Creates the layers of `model` from `registry` (which must outlive the model) and loads
  // `tensors` (global shapes, ParamEntry names); `source` names them in errors.
  static Result<InferenceModel> create(const ModelSpec& model, const Registry& registry,
                                       const ModelTensors& tensors, const std::string& source);

  // context: (T) token ids, each below vocab_size -> (T', V) logits of the last T' = min(T,
  // seq_len) positions when all_positions, else (V) of the last position only.
  Result<std::vector<float>> logits(std::span<const std::int32_t> context, bool all_positions = false);

  // New weights for the same model (training samples reuse one model), checked as in create().
  Status load(const ModelTensors& tensors, const std::string& source) { return params_->load_global(tensors, source); }

  std::int64_t seq_len() const { return seq_len_; }
  std::int64_t vocab_size() const { return vocab_; }

 private:
  InferenceModel() = default;
  Result<std::vector<float>> run_layers(std::vector<std::int32_t> tokens, bool all_positions);

  std::vector<LayerSlot> layers_;
  std::unique_ptr<ParamStore> params_;
  std::int64_t seq_len_ = 0, vocab_ = 0;
};

// The ParamStore a one-rank fp32 model of `model` lays out (names and global shapes), without
// values: what init_from and the exports check tensors against.
Result<std::vector<LayerSlot>> create_model_layers(const ModelSpec& model, const Registry& registry);

}  // namespace llmrt
