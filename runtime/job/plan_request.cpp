#include "job/plan_request.h"

#include <algorithm>
#include <map>
#include <mutex>

#include "exec/model_layers.h"
#include "plugin/component_config.h"
#include "plugin/plugin_calls.h"
#include "schedule/schedule_loader.h"

namespace llmrt {

// "auto" stores 16 bits on every GPU (bf16 or fp16).
int element_bytes_of(Precision precision) { return precision == Precision::kFp32 ? 4 : 2; }

namespace {

// This rank's slice of the layer's parameters in the training precision, from the parameter
// specs (global shapes, split along shard_dim by tp): exact, and in the unit the planner's
// memory model wants, where the cost hints count the plugin's own (fp32) storage.
double parameter_slice_bytes(const LayerSlot& slot, int tp, Precision precision) {
  double elements = 0;
  for (const llmrt_param_spec& spec : slot.params) {
    double count = 1;
    for (int d = 0; d < spec.rank; ++d) count *= static_cast<double>(spec.shape[d]);
    elements += spec.shard_dim == LLMRT_NO_SHARD ? count : count / tp;
  }
  return elements * element_bytes_of(precision);
}

Result<std::vector<LayerCost>> compute_layer_costs(const ModelSpec& model, const Registry& registry,
                                                   Precision precision, int tp, int microbatch_size) {
  const int layer_count = static_cast<int>(expand_layers(model).size());
  // tp_rank 0 speaks for the group: every rank of a tp group holds an equal slice.
  const llmrt_layer_context context{sizeof(llmrt_layer_context), 0, tp, compute_dtype_of(precision), 0, LLMRT_RECOMPUTE_NONE};
  LLMRT_ASSIGN_OR_RETURN_CTX(auto layers, create_layers(model, registry, 0, layer_count, context), "tp = {}", tp);
  const std::int64_t seq = model.seq_len.value;
  LLMRT_ASSIGN_OR_RETURN(const auto shapes, layer_output_shapes(layers, microbatch_size, seq));
  const std::vector<LayerPlanEntry> entries = expand_layers(model);
  std::vector<LayerCost> costs;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    LLMRT_ASSIGN_OR_RETURN(auto hints, layer_cost_hints(layers[i].instance, microbatch_size, seq));
    LayerCost cost;
    cost.forward_flops = hints.forward_flops;
    cost.backward_input_flops = hints.backward_input_flops;
    cost.backward_weight_flops = hints.backward_weight_flops;
    cost.activation_bytes = hints.activation_bytes;
    cost.input_bytes = hints.input_bytes;
    cost.selective_activation_bytes = hints.selective_activation_bytes;
    cost.selective_recompute_flops = hints.selective_recompute_flops;
    cost.workspace_bytes = hints.workspace_bytes;  // 0 from a plugin older than ABI 1.2
    const std::uint32_t flags = layers[i].component->layer().flags;  // zero-filled past an older plugin's table
    cost.supports_full = (flags & LLMRT_LAYER_RECOMPUTE_FULL) != 0;
    cost.supports_selective = (flags & LLMRT_LAYER_RECOMPUTE_SELECTIVE) != 0;
    cost.recompute = model.layers[static_cast<std::size_t>(entries[i].spec_index)].recompute.value;
    cost.parameter_bytes = parameter_slice_bytes(layers[i], tp, precision);
    for (const llmrt_param_spec& spec : layers[i].params) {
      if (spec.tie_name == nullptr) continue;
      double count = 1;
      for (int d = 0; d < spec.rank; ++d) count *= static_cast<double>(spec.shape[d]);
      if (spec.shard_dim != LLMRT_NO_SHARD) count /= tp;
      cost.tied_parameter_bytes[spec.tie_name] += count * element_bytes_of(precision);
    }
    double elements = 1;
    for (std::int64_t extent : shapes[i]) elements *= static_cast<double>(extent);
    cost.output_bytes = elements * element_bytes_of(precision);
    costs.push_back(cost);
  }
  return costs;
}

}  // namespace

LayerCostFn make_layer_cost_fn(const ModelSpec& model, const Registry& registry, Precision precision) {
  struct Cache {
    std::mutex mutex;  // the planner may evaluate layouts on several threads
    std::map<std::pair<int, int>, Result<std::vector<LayerCost>>> entries;
  };
  auto cache = std::make_shared<Cache>();
  return [cache, &model, &registry, precision](int tp, int microbatch_size) -> Result<std::vector<LayerCost>> {
    std::lock_guard<std::mutex> lock(cache->mutex);
    const auto key = std::make_pair(tp, microbatch_size);
    auto found = cache->entries.find(key);
    if (found == cache->entries.end()) {
      found = cache->entries.emplace(key, compute_layer_costs(model, registry, precision, tp, microbatch_size)).first;
    }
    return found->second;
  };
}

std::vector<std::string> candidate_schedules(const Registry& registry, const ParallelSpec& parallel) {
  std::vector<std::string> names;
  for (const std::string& name : PlanRequest{}.schedules) {
    const Component* component = registry.find(name);
    if (component && component->kind == LLMRT_KIND_PIPELINE_SCHEDULE) names.push_back(name);
  }
  if (std::find(names.begin(), names.end(), parallel.schedule) == names.end()) names.push_back(parallel.schedule);
  return names;
}

PlanRequest plan_request_for(const Spec& spec, const Topology& topology, const Registry& registry, int world_size) {
  PlanRequest request;
  request.topology = &topology;
  request.cluster = &spec.cluster;
  request.parallel = spec.parallel;
  request.train = spec.train;
  request.plan = spec.plan;
  request.seq_len = spec.model.seq_len.value;
  request.world_size = world_size;
  request.schedules = candidate_schedules(registry, spec.parallel);
  request.layer_costs = make_layer_cost_fn(spec.model, registry, spec.train.precision);
  // Selective recompute only where every device of the room runs it (gpt.block's is CPU-only):
  // otherwise the planner would choose a mode the run then refuses.
  if (!check_layer_support(spec.model, registry, topology, spec.train.precision, false, Recompute::kSelective).ok()) {
    request.layer_costs = [costs = std::move(request.layer_costs)](int tp, int microbatch_size) {
      auto result = costs(tp, microbatch_size);
      if (result.ok()) {
        for (LayerCost& cost : *result) cost.supports_selective = false;
      }
      return result;
    };
  }
  request.schedule_source = registry_schedule_source(registry);
  request.layer_support = make_layer_support_fn(spec.model, registry, spec.train.precision);
  return request;
}

}  // namespace llmrt
