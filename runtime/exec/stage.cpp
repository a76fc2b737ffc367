#include "exec/stage.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <optional>

#include <fmt/format.h>

namespace llmrt {
namespace {

std::size_t elements_of(const std::vector<std::int64_t>& shape) {
  std::size_t count = 1;
  for (std::int64_t extent : shape) count *= static_cast<std::size_t>(extent);
  return count;
}

}  // namespace

Stage::Stage(std::vector<LayerSlot> slots, ParamStore& params, std::size_t first_slot, StagePlacement placement)
    : layers_(std::move(slots)), params_(&params), device_(&params.device()), first_slot_(first_slot),
      placement_(std::move(placement)) {}

Result<Stage> Stage::build(std::vector<LayerSlot> slots, ParamStore& params, std::size_t first_slot,
                           StagePlacement placement, std::int64_t batch, std::int64_t seq) {
  Stage stage(std::move(slots), params, first_slot, std::move(placement));
  LLMRT_RETURN_IF_ERROR(stage.infer_layer_shapes(batch, seq));
  stage.plan_reruns();
  return stage;
}

// Walks the layers with shapes only: each layer's output is the next one's input.
// The model's one shape walk (exec/model_layers.h) over this stage's layers, plus each layer's
// saved-state size: each layer's output is the next one's input.
Status Stage::infer_layer_shapes(std::int64_t batch, std::int64_t seq) {
  token_shape_ = {batch, seq};
  std::optional<std::vector<std::int64_t>> stage_input;
  if (!placement_.first) stage_input = placement_.input_shape;
  LLMRT_ASSIGN_OR_RETURN(const auto outputs, layer_output_shapes(layers_, batch, seq, stage_input, placement_.last));
  std::vector<std::int64_t> activation = placement_.input_shape;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    LayerShapes shapes;
    shapes.input = placement_.first && i == 0 ? std::vector<std::int64_t>() : activation;
    shapes.output = outputs[i];
    LLMRT_ASSIGN_OR_RETURN(shapes.saved_bytes, layer_saved_bytes(layers_[i].instance, batch, seq));
    activation = shapes.output;
    shapes_.push_back(std::move(shapes));
  }
  return Status::success();
}

// A message from another stage into this stage's buffer: a copy, or a conversion when the
// sender computes in another dtype (a mixed room under precision "auto").
Status Stage::take_message(Buffer& into, const Buffer& message) {
  if (message.dtype() == into.dtype()) return into.copy_from(message, placement_.stream);
  return device_->convert(into.data(), into.dtype(), message.data(), message.dtype(), message.count(),
                          placement_.stream);
}

// The loss is f32 whatever the precision; every other output is an activation.
std::int32_t Stage::output_dtype(std::size_t layer) const {
  return placement_.last && layer + 1 == layers_.size() ? LLMRT_DTYPE_F32 : placement_.activation_dtype;
}

llmrt_call_ctx Stage::call_context(int microbatch) const {
  llmrt_call_ctx ctx{};
  ctx.struct_size = sizeof(ctx);
  ctx.device = device_->id();
  ctx.stream = placement_.stream != nullptr ? placement_.stream->plugin_handle() : nullptr;
  ctx.tp_comm = placement_.tp_comm;
  ctx.tp_rank = placement_.tp_rank;
  ctx.tp_size = placement_.tp_size;
  ctx.microbatch = microbatch;
  ctx.host_private = placement_.job;
  return ctx;
}

// train.detect_anomaly / guard_params read outputs on the host (through the default order):
// the compute stream is drained first. Off (the default), nothing waits.
Status Stage::checked_call(const LayerSlot& layer, std::string_view pass, int microbatch,
                           std::span<const llmrt_tensor> outputs, std::span<const llmrt_tensor> grad_params,
                           const ParamStore& params, ComputeDevice& device) {
  if (rng_watched_ && placement_.job != nullptr && placement_.job->rng_offset.load() != rng_offset_watched_) {
    return runtime_error("{} {} (microbatch {}) draws random numbers; a graph replay would repeat them",
                         layer.label, pass, microbatch);
  }
  if (!checks_.active()) return Status::success();
  if (placement_.stream != nullptr) LLMRT_RETURN_IF_ERROR(device.synchronize(placement_.stream));
  return checks_.after_call(layer, pass, microbatch, outputs, grad_params, params, device);
}

void Stage::watch_rng(bool on) {
  rng_watched_ = on;
  if (on && placement_.job != nullptr) rng_offset_watched_ = placement_.job->rng_offset.load();
}

Stage::MicrobatchState& Stage::state_of(int microbatch, const char* pass) {
  auto it = live_.find(microbatch);
  assert(it != live_.end() && pass);  // the verifier proved every pass follows its forward
  return it->second;
}

// The tensors layer `layer` takes: tokens or the activation, plus targets on the last layer.
std::vector<llmrt_tensor> Stage::layer_inputs(std::size_t layer, MicrobatchState& state) {
  std::vector<llmrt_tensor> in;
  if (placement_.first && layer == 0) in.push_back(buffer_tensor(state.tokens, token_shape_));
  else in.push_back(buffer_tensor(state.inputs[layer], shapes_[layer].input));
  if (placement_.last && layer + 1 == layers_.size()) in.push_back(buffer_tensor(state.targets, token_shape_));
  return in;
}

// Copies host token ids into a device buffer.
Status Stage::upload_tokens(Buffer& buffer, std::span<const std::int32_t> tokens) {
  LLMRT_RETURN_IF_ERROR(buffer.resize(*device_, LLMRT_DTYPE_I32, tokens.size()));
  return device_->copy(buffer.data(), tokens.data(), tokens.size_bytes(),
                       copy_kind(cpu_device().id(), device_->id()), placement_.stream);
}

Status Stage::forward(int microbatch, std::span<const std::int32_t> tokens, const Buffer* activation,
                      std::span<const std::int32_t> targets) {
  MicrobatchState& state = live_[microbatch];
  if (!free_states_.empty()) {
    state = std::move(free_states_.back());
    free_states_.pop_back();
  }
  state.inputs.resize(layers_.size());
  state.saved.resize(layers_.size());
  state.grad_outputs.resize(layers_.size());
  state.rng_draws.resize(layers_.size());
  state.weights_done = false;
  if (placement_.first) {
    LLMRT_RETURN_IF_ERROR(upload_tokens(state.tokens, tokens));
  } else {
    LLMRT_RETURN_IF_ERROR(state.inputs[0].resize(*device_, placement_.activation_dtype, activation->count()));
    LLMRT_RETURN_IF_ERROR(take_message(state.inputs[0], *activation));
  }
  if (placement_.last) LLMRT_RETURN_IF_ERROR(upload_tokens(state.targets, targets));
  const llmrt_call_ctx ctx = call_context(microbatch);
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    LLMRT_RETURN_IF_ERROR(params_->settle_slot(first_slot_ + i));  // ZeRO-1's all-gather of its weights
    std::vector<llmrt_tensor> in = layer_inputs(i, state);
    std::vector<llmrt_tensor> params = params_->param_tensors(first_slot_ + i);
    // The layer writes its whole output: a reused buffer needs no clearing.
    Buffer& output = i + 1 < layers_.size() ? state.inputs[i + 1] : state.output;
    LLMRT_RETURN_IF_ERROR(output.resize(*device_, output_dtype(i), elements_of(shapes_[i].output)));
    llmrt_tensor out = buffer_tensor(output, shapes_[i].output);
    LLMRT_RETURN_IF_ERROR(hold_saved(i, state));
    LLMRT_RETURN_IF_ERROR(layer_forward(layers_[i].instance, ctx,
                                        {.in = in, .params = params, .out = {&out, 1}, .saved = saved_of(i, state)},
                                        fmt::format("{} forward (microbatch {})", layers_[i].label, microbatch)));
    LLMRT_RETURN_IF_ERROR(checked_call(layers_[i], "forward", microbatch, {&out, 1}, {}, *params_, *device_));
    LLMRT_RETURN_IF_ERROR(drop_saved(i, state));
  }
  return Status::success();
}

Status Stage::backward_input(int microbatch, const Buffer& grad_output, bool weights_too) {
  MicrobatchState& state = state_of(microbatch, "backward_input");
  const llmrt_call_ctx ctx = call_context(microbatch);
  LLMRT_RETURN_IF_ERROR(state.grad_outputs.back().resize(*device_, output_dtype(layers_.size() - 1), grad_output.count()));
  LLMRT_RETURN_IF_ERROR(take_message(state.grad_outputs.back(), grad_output));
  for (std::size_t i = layers_.size(); i-- > 0;) {
    std::vector<llmrt_tensor> in = layer_inputs(i, state);
    std::vector<llmrt_tensor> params = params_->param_tensors(first_slot_ + i);
    std::vector<llmrt_tensor> grad_params = params_->grad_tensors(first_slot_ + i);
    llmrt_tensor grad_out = buffer_tensor(state.grad_outputs[i], shapes_[i].output);
    const bool takes_tokens = placement_.first && i == 0;
    // The gradient w.r.t. this layer's input is the previous layer's output gradient (written, not added).
    Buffer& grad_in = i > 0 ? state.grad_outputs[i - 1] : state.input_grad;
    LLMRT_RETURN_IF_ERROR(
        grad_in.resize(*device_, placement_.activation_dtype, takes_tokens ? 0 : elements_of(shapes_[i].input)));
    llmrt_tensor grad_in_tensor = buffer_tensor(grad_in, shapes_[i].input);
    if (reruns_[i]) LLMRT_RETURN_IF_ERROR(rerun_forward(i, microbatch, state));
    LLMRT_RETURN_IF_ERROR(layer_backward_input(
        layers_[i].instance, ctx,
        {.grad_out = {&grad_out, 1}, .in = in, .params = params, .saved = saved_of(i, state),
         .grad_in = {&grad_in_tensor, takes_tokens ? 0u : 1u}, .grad_params = grad_params},
        fmt::format("{} backward_input (microbatch {})", layers_[i].label, microbatch)));
    const bool fused = !has_backward_weight(*layers_[i].component);
    LLMRT_RETURN_IF_ERROR(checked_call(layers_[i], "backward_input", microbatch,
                                             {&grad_in_tensor, takes_tokens ? 0u : 1u},
                                             fused ? grad_params : std::vector<llmrt_tensor>{}, *params_, *device_));
    if (fused && weights_done_) LLMRT_RETURN_IF_ERROR(weights_done_(first_slot_ + i));
    if (!fused && weights_too) LLMRT_RETURN_IF_ERROR(backward_layer_weight(i, microbatch, state));
    if (reruns_[i] && (fused || weights_too)) give_back(std::move(state.saved[i]));
  }
  state.weights_done = weights_too;
  return Status::success();
}

// Layer `layer`'s backward_weight for the microbatch (a layer with one), then the callback.
Status Stage::backward_layer_weight(std::size_t layer, int microbatch, MicrobatchState& state) {
  const std::size_t i = layer;
  std::vector<llmrt_tensor> in = layer_inputs(i, state);
  std::vector<llmrt_tensor> params = params_->param_tensors(first_slot_ + i);
  std::vector<llmrt_tensor> grad_params = params_->grad_tensors(first_slot_ + i);
  llmrt_tensor grad_out = buffer_tensor(state.grad_outputs[i], shapes_[i].output);
  LLMRT_RETURN_IF_ERROR(layer_backward_weight(
      layers_[i].instance, call_context(microbatch),
      {.grad_out = {&grad_out, 1}, .in = in, .params = params, .saved = saved_of(i, state),
       .grad_params = grad_params},
      fmt::format("{} backward_weight (microbatch {})", layers_[i].label, microbatch)));
  LLMRT_RETURN_IF_ERROR(checked_call(layers_[i], "backward_weight", microbatch, {}, grad_params, *params_, *device_));
  if (weights_done_) LLMRT_RETURN_IF_ERROR(weights_done_(first_slot_ + i));
  return Status::success();
}

Status Stage::backward_weight(int microbatch) {
  MicrobatchState& state = state_of(microbatch, "backward_weight");
  for (std::size_t i = layers_.size(); i-- > 0 && !state.weights_done;) {
    // a fused layer did its weights in backward_input
    if (has_backward_weight(*layers_[i].component)) LLMRT_RETURN_IF_ERROR(backward_layer_weight(i, microbatch, state));
  }
  release(microbatch);
  return Status::success();
}

void Stage::release(int microbatch) {
  auto finished = live_.find(microbatch);
  // A rerun layer's saved state goes back to the pool (bounded): kept states keep none of it.
  for (std::size_t i = 0; i < reruns_.size() && i < finished->second.saved.size(); ++i) {
    if (reruns_[i]) give_back(std::move(finished->second.saved[i]));
  }
  free_states_.push_back(std::move(finished->second));
  live_.erase(finished);
}

Buffer Stage::exchange_output(int microbatch, Buffer replacement) {
  std::swap(live_.at(microbatch).output, replacement);
  return replacement;
}

Buffer Stage::exchange_input_grad(int microbatch, Buffer replacement) {
  std::swap(live_.at(microbatch).input_grad, replacement);
  return replacement;
}

// The host does not read it here: the runner sums the pass's losses on the device (exec/loss_tally.h).
const Buffer& Stage::loss(int microbatch) const { return live_.at(microbatch).output; }

const Buffer& Stage::output(int microbatch) const { return live_.at(microbatch).output; }

const Buffer& Stage::input_grad(int microbatch) const { return live_.at(microbatch).input_grad; }

std::size_t Stage::output_elements() const { return elements_of(shapes_.back().output); }

std::size_t Stage::input_elements() const { return elements_of(shapes_.front().input); }

}  // namespace llmrt
