#include "infer/inference_model.h"

#include <algorithm>

#include <fmt/format.h>

#include "plugin/plugin_calls.h"

namespace llmrt {

Result<std::vector<LayerSlot>> create_model_layers(const ModelSpec& model, const Registry& registry) {
  const int count = static_cast<int>(expand_layers(model).size());
  const llmrt_layer_context context{sizeof(llmrt_layer_context), 0, 1, LLMRT_DTYPE_F32, 0, LLMRT_RECOMPUTE_NONE};
  return create_layers(model, registry, 0, count, context);
}

Result<InferenceModel> InferenceModel::create(const ModelSpec& model, const Registry& registry,
                                              const ModelTensors& tensors, const std::string& source) {
  InferenceModel inference;
  inference.seq_len_ = model.seq_len.value;
  inference.vocab_ = model.vocab_size.value;
  LLMRT_ASSIGN_OR_RETURN(inference.layers_, create_model_layers(model, registry));
  if (inference.layers_.empty()) return input_error("{}: the model has no layers", source);
  LLMRT_ASSIGN_OR_RETURN(ParamStore params, ParamStore::build(inference.layers_, 0, 1));
  inference.params_ = std::make_unique<ParamStore>(std::move(params));
  LLMRT_RETURN_IF_ERROR(inference.params_->load_global(tensors, source));
  return inference;
}

Result<std::vector<float>> InferenceModel::logits(std::span<const std::int32_t> context, bool all_positions) {
  if (context.empty()) return input_error("the context is empty: generation needs at least one token");
  for (std::int32_t token : context) {
    if (token < 0 || token >= vocab_) return input_error("token {} is outside [0, vocab_size = {})", token, vocab_);
  }
  const std::size_t keep = std::min(context.size(), static_cast<std::size_t>(seq_len_));
  return run_layers(std::vector<std::int32_t>(context.end() - static_cast<std::ptrdiff_t>(keep), context.end()),
                    all_positions);
}

// One forward pass, batch 1: tokens (1, T) through every layer; the head gets x alone, and only
// the last row of x when one position's logits are wanted (LayerNorm and the projection are
// position-wise, so that row's logits are the same).
Result<std::vector<float>> InferenceModel::run_layers(std::vector<std::int32_t> tokens, bool all_positions) {
  const std::int64_t seq = static_cast<std::int64_t>(tokens.size());
  llmrt_call_ctx ctx{};
  ctx.struct_size = sizeof(ctx);
  ctx.device = llmrt_device{LLMRT_DEVICE_CPU, 0};
  std::vector<float> x, next;
  llmrt_tensor input = cpu_tensor_i32(tokens.data(), {1, seq});
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    const bool head = i + 1 == layers_.size();
    if (head && !all_positions && seq > 1) {
      const std::int64_t channels = input.shape[2];
      x.erase(x.begin(), x.end() - channels);
      input = cpu_tensor(x.data(), {1, 1, channels});
    }
    const std::int64_t rows = head && !all_positions ? 1 : seq;
    LLMRT_ASSIGN_OR_RETURN(auto shapes, layer_infer_shapes(layers_[i].instance, {input}));
    if (shapes.size() != 1) return runtime_error("{} gives {} outputs, inference needs one", layers_[i].label, shapes.size());
    const std::vector<std::int64_t> shape(shapes[0].shape, shapes[0].shape + shapes[0].rank);
    std::size_t elements = 1;
    for (std::int64_t extent : shape) elements *= static_cast<std::size_t>(extent);
    if (head && elements != static_cast<std::size_t>(rows * vocab_)) {
      return input_error("{}: called without targets it gives {} values, not logits (1, {}, {}); the head "
                         "component must return logits when called with x alone (docs/plugins.md)",
                         layers_[i].label, elements, rows, vocab_);
    }
    next.assign(elements, 0.0f);
    LLMRT_ASSIGN_OR_RETURN(std::size_t saved_bytes, layer_saved_bytes(layers_[i].instance, 1, rows));
    std::vector<std::byte> saved(saved_bytes);
    std::vector<llmrt_tensor> params = params_->param_tensors(i);
    llmrt_tensor out = cpu_tensor(next.data(), shape);
    LLMRT_RETURN_IF_ERROR(layer_forward(layers_[i].instance, ctx,
                                        {.in = {&input, 1}, .params = params, .out = {&out, 1}, .saved = saved},
                                        fmt::format("{} forward (inference)", layers_[i].label)));
    x.swap(next);
    input = cpu_tensor(x.data(), shape);
  }
  return x;
}

}  // namespace llmrt
