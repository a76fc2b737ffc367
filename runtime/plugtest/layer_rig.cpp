#include "plugtest/layer_rig.h"

#include <bit>
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "exec/param_store.h"
#include "plugin/host_tensors.h"
#include <llmrt/half.hpp>

namespace llmrt::plugtest {

std::size_t HostTensor::count() const {
  std::size_t n = 1;
  for (std::int64_t d : shape) n *= static_cast<std::size_t>(d);
  return n;
}

llmrt_tensor HostTensor::view() {
  void* data = dtype == LLMRT_DTYPE_I32    ? static_cast<void*>(ids.data())
               : dtype == LLMRT_DTYPE_BF16 ? static_cast<void*>(halves.data())
                                           : static_cast<void*>(values.data());
  return host_tensor(data, static_cast<llmrt_dtype>(dtype), shape);
}

llmrt_tensor HostTensor::shape_only() const { return host_tensor(nullptr, static_cast<llmrt_dtype>(dtype), shape); }

HostTensor HostTensor::zeros(const std::vector<std::int64_t>& shape) {
  HostTensor t;
  t.shape = shape;
  t.values.assign(t.count(), 0.f);
  return t;
}

HostTensor HostTensor::as_bf16() const {
  if (dtype != LLMRT_DTYPE_F32) return *this;
  HostTensor t;
  t.dtype = LLMRT_DTYPE_BF16;
  t.shape = shape;
  for (float v : values) t.halves.push_back(llmrt::bf16_from_float(v));
  return t;
}

HostTensor HostTensor::as_f32() const {
  if (dtype != LLMRT_DTYPE_BF16) return *this;
  HostTensor t;
  t.shape = shape;
  for (std::uint16_t h : halves) t.values.push_back(llmrt::float_from_bf16(h));
  return t;
}

float LayerRig::sentinel() { return std::bit_cast<float>(0x7fa5a5a5u); }

std::vector<std::int64_t> global_shape(const llmrt_param_spec& spec) {
  return std::vector<std::int64_t>(spec.shape, spec.shape + spec.rank);
}

std::vector<std::int64_t> local_shape(const llmrt_param_spec& spec, int tp_size) {
  std::vector<std::int64_t> shape = global_shape(spec);
  if (spec.shard_dim != LLMRT_NO_SHARD) shape[static_cast<std::size_t>(spec.shard_dim)] /= tp_size;
  return shape;
}

HostTensor random_param(const llmrt_param_spec& spec, std::mt19937& rng) {
  HostTensor t = HostTensor::zeros(global_shape(spec));
  std::uniform_real_distribution<float> spread(-0.3f, 0.3f);
  const float center = spec.init == LLMRT_INIT_ONES ? 1.f : 0.f;
  for (float& v : t.values) v = center + (spec.init == LLMRT_INIT_ONES ? 0.5f : 1.f) * spread(rng);
  return t;
}

LayerRig::LayerRig(ComponentInstance instance, std::vector<llmrt_param_spec> specs, llmrt_layer_context context,
                   llmrt_call_ctx ctx)
    : instance_(std::move(instance)), specs_(std::move(specs)), context_(context), ctx_(ctx) {}

Result<LayerRig> LayerRig::create(const Component& component, const ResolvedConfig& config,
                                  const llmrt_layer_context& context, const llmrt_call_ctx& ctx) {
  LLMRT_ASSIGN_OR_RETURN(auto instance, create_layer(component, config, context));
  LLMRT_ASSIGN_OR_RETURN(auto specs, layer_param_specs(instance));
  for (const llmrt_param_spec& spec : specs) {
    for (int d = 0; d < spec.rank; ++d) {
      if (spec.shape[d] <= 0) {
        return input_error("layer '{}': parameter '{}' has dimension {} = {}: expected a positive extent",
                           component.name, spec.name ? spec.name : "?", d, spec.shape[d]);
      }
    }
    if (spec.shard_dim != LLMRT_NO_SHARD &&
        (spec.shard_dim < 0 || spec.shard_dim >= spec.rank || spec.shape[spec.shard_dim] % context.tp_size != 0)) {
      return input_error("layer '{}': parameter '{}' cannot be split along dimension {} for tp = {}", component.name,
                         spec.name ? spec.name : "?", spec.shard_dim, context.tp_size);
    }
  }
  return LayerRig(std::move(instance), std::move(specs), context, ctx);
}

Status LayerRig::choose_inputs(Problem& problem, std::int64_t width, std::int64_t vocab, std::mt19937& rng) {
  const std::vector<std::int64_t> tokens = {problem.batch, problem.seq}, activation = {problem.batch, problem.seq, width};
  auto ids = [&] {
    HostTensor t;
    t.dtype = LLMRT_DTYPE_I32;
    t.shape = tokens;
    std::uniform_int_distribution<std::int32_t> pick(0, static_cast<std::int32_t>(std::max<std::int64_t>(vocab, 1) - 1));
    for (std::size_t i = 0; i < t.count(); ++i) t.ids.push_back(pick(rng));
    return t;
  };
  auto x = [&] {
    HostTensor t = HostTensor::zeros(activation);
    std::uniform_real_distribution<float> spread(-1.f, 1.f);
    for (float& v : t.values) v = spread(rng);
    return t;
  };
  // The training path first: a head takes targets; one that also runs without them is tested with.
  const std::vector<std::pair<bool, bool>> candidates = {{true, true}, {true, false}, {false, true}, {false, false}};
  std::string first_refusal;
  for (const auto& [is_float, targets] : candidates) {
    std::vector<HostTensor> in = {is_float ? x() : ids()};
    if (targets) in.push_back(ids());
    std::vector<llmrt_tensor> shapes;
    for (const HostTensor& t : in) shapes.push_back(t.shape_only());
    auto out = layer_infer_shapes(instance_, shapes);
    if (out.ok() && !out->empty()) {
      problem.inputs = std::move(in);
      problem.float_input = is_float;
      return Status::success();
    }
    if (first_refusal.empty()) first_refusal = out.ok() ? "no outputs" : out.error().message();
  }
  return input_error("layer '{}': infer_shapes accepts none of the inputs `plugins test` knows (an activation ({}, {}, "
                     "{}) f32 or token ids ({}, {}) i32, each with or without targets (B, T) i32); for an activation "
                     "it said: {}", component().name, problem.batch, problem.seq, width, problem.batch, problem.seq,
                     first_refusal);
}

Status LayerRig::bind(const Problem& problem) {
  inputs_ = problem.inputs;
  batch_ = problem.batch, seq_ = problem.seq;
  params_.clear();
  if (problem.global_params.size() != specs_.size()) {
    return runtime_error("layer '{}': {} parameters at tp = {}, {} at tp = 1", component().name, specs_.size(),
                         context_.tp_size, problem.global_params.size());
  }
  for (std::size_t k = 0; k < specs_.size(); ++k) {
    const llmrt_param_spec& spec = specs_[k];
    HostTensor local;
    local.shape = local_shape(spec, context_.tp_size);
    local.values = spec.shard_dim == LLMRT_NO_SHARD
                       ? problem.global_params[k].values
                       : slice_along(problem.global_params[k].values, problem.global_params[k].shape, spec.shard_dim,
                                     context_.tp_rank, context_.tp_size);
    params_.push_back(std::move(local));
  }
  LLMRT_ASSIGN_OR_RETURN(saved_bytes_, layer_saved_bytes(instance_, batch_, seq_));
  return Status::success();
}

Result<std::vector<llmrt_tensor>> LayerRig::declared_outputs() const {
  std::vector<llmrt_tensor> shapes;
  for (const HostTensor& t : inputs_) shapes.push_back(t.shape_only());
  return layer_infer_shapes(instance_, shapes);
}

Result<std::vector<std::vector<std::int64_t>>> LayerRig::output_shapes() const {
  LLMRT_ASSIGN_OR_RETURN(auto out, declared_outputs());
  std::vector<std::vector<std::int64_t>> result;
  for (const llmrt_tensor& t : out) {
    if (t.rank < 0 || t.rank > LLMRT_MAX_RANK) return runtime_error("infer_shapes declared rank {}", t.rank);
    result.emplace_back(t.shape, t.shape + t.rank);
    for (std::int64_t d : result.back()) {
      if (d < 0) return runtime_error("infer_shapes declared an output of shape with extent {}", d);
    }
  }
  return result;
}

Result<std::vector<HostTensor>> LayerRig::fresh_outputs() const {
  LLMRT_ASSIGN_OR_RETURN(auto shapes, output_shapes());
  std::vector<HostTensor> out;
  for (const auto& shape : shapes) {
    HostTensor t;
    t.shape = shape;
    t.values.assign(t.count() + kTail, sentinel());
    out.push_back(std::move(t));
  }
  return out;
}

Gradients LayerRig::fresh_gradients() const {
  auto guarded = [](const std::vector<std::int64_t>& shape) {
    HostTensor t = HostTensor::zeros(shape);
    t.values.resize(t.count() + kTail, sentinel());
    return t;
  };
  Gradients grads;
  for (const HostTensor& t : inputs_) {
    if (t.dtype == LLMRT_DTYPE_F32) grads.in.push_back(guarded(t.shape));
    if (t.dtype == LLMRT_DTYPE_BF16) grads.in.push_back(HostTensor::zeros(t.shape).as_bf16());
  }
  for (const HostTensor& p : params_) grads.params.push_back(guarded(p.shape));
  return grads;
}

std::vector<llmrt_tensor> LayerRig::views(std::vector<HostTensor>& tensors) const {
  std::vector<llmrt_tensor> v;
  for (HostTensor& t : tensors) v.push_back(t.view());
  return v;
}

Status LayerRig::forward(std::vector<HostTensor>& out, std::vector<std::byte>& saved) {
  if (saved.size() != saved_bytes_) saved.assign(saved_bytes_, std::byte{0});
  const auto in = views(inputs_), params = views(params_);
  auto outs = views(out);
  return layer_forward(instance_, ctx_, {.in = in, .params = params, .out = outs, .saved = saved}, "forward");
}

Status LayerRig::backward(std::vector<HostTensor>& grad_out, std::vector<std::byte>& saved, Gradients& grads,
                          BackwardPasses passes) {
  const auto in = views(inputs_), params = views(params_), g_out = views(grad_out);
  auto g_in = views(grads.in), g_params = views(grads.params);
  const BackwardCall call{.grad_out = g_out, .in = in, .params = params, .saved = saved, .grad_in = g_in,
                          .grad_params = g_params};
  if (passes != BackwardPasses::kWeightOnly) {
    LLMRT_RETURN_IF_ERROR(layer_backward_input(instance_, ctx_, call, "backward_input"));
  }
  if (passes != BackwardPasses::kInputOnly && !fused()) {
    LLMRT_RETURN_IF_ERROR(layer_backward_weight(instance_, ctx_, call, "backward_weight"));
  }
  return Status::success();
}

}  // namespace llmrt::plugtest
