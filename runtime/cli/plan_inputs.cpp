#include "cli/plan_inputs.h"

#include <algorithm>
#include <map>
#include <mutex>

#include "cli/commands.h"
#include "config/read_spec.h"
#include "exec/model_layers.h"
#include "exec/param_store.h"
#include "plugin/component_config.h"
#include "plugin/plugin_calls.h"
#include "plugin/plugin_search.h"

namespace llmrt {

int element_bytes_of(Precision precision) { return precision == Precision::kFp32 ? 4 : 2; }

namespace {

std::int32_t compute_dtype(Precision precision) {
  switch (precision) {
    case Precision::kBf16: return LLMRT_DTYPE_BF16;
    case Precision::kFp16: return LLMRT_DTYPE_F16;
    case Precision::kFp32: break;
  }
  return LLMRT_DTYPE_F32;
}

// One layer's hints at (batch, seq); all zeros when the plugin gives none (its cost is unknown,
// which the planner treats as free: the layer author's choice).
Result<llmrt_cost_hints> layer_hints(const LayerSlot& slot, std::int64_t batch, std::int64_t seq) {
  return layer_cost_hints(slot.instance, batch, seq);
}

// Each layer's output element count, walking the model with shapes only (as the trainer does):
// the first layer takes token ids (B, T), the last takes activations plus targets (B, T).
Result<std::vector<double>> output_elements(const std::vector<LayerSlot>& layers, std::int64_t batch,
                                            std::int64_t seq) {
  std::vector<double> elements;
  std::vector<std::int64_t> previous;
  const std::vector<std::int64_t> tokens = {batch, seq};
  for (std::size_t i = 0; i < layers.size(); ++i) {
    std::vector<llmrt_tensor> in;
    in.push_back(i == 0 ? cpu_tensor_i32(nullptr, tokens) : cpu_tensor(nullptr, previous));
    if (i + 1 == layers.size()) in.push_back(cpu_tensor_i32(nullptr, tokens));
    auto out = layer_infer_shapes(layers[i].instance, in);
    if (!out) return out.error().with_context(layers[i].label);
    if (out->empty()) return runtime_error("{}: infer_shapes gave no output", layers[i].label);
    previous.assign(out->front().shape, out->front().shape + out->front().rank);
    double count = 1;
    for (std::int64_t extent : previous) count *= static_cast<double>(extent);
    elements.push_back(count);
  }
  return elements;
}

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
  const llmrt_layer_context context{sizeof(llmrt_layer_context), 0, tp, compute_dtype(precision), 0};
  auto layers = create_layers(model, registry, 0, layer_count, context);
  if (!layers) return layers.error().with_context(fmt::format("tp = {}", tp));
  const std::int64_t seq = model.seq_len.value;
  auto elements = output_elements(*layers, microbatch_size, seq);
  if (!elements) return elements.error();
  std::vector<LayerCost> costs;
  for (std::size_t i = 0; i < layers->size(); ++i) {
    auto hints = layer_hints((*layers)[i], microbatch_size, seq);
    if (!hints) return hints.error();
    LayerCost cost;
    cost.forward_flops = hints->forward_flops;
    cost.backward_input_flops = hints->backward_input_flops;
    cost.backward_weight_flops = hints->backward_weight_flops;
    cost.activation_bytes = hints->activation_bytes;
    cost.parameter_bytes = parameter_slice_bytes((*layers)[i], tp, precision);
    cost.output_bytes = (*elements)[i] * element_bytes_of(precision);
    costs.push_back(cost);
  }
  return costs;
}

// A schedule component and its default config, looked up once per name.
struct ScheduleEntry {
  const Component* component = nullptr;
  std::shared_ptr<ResolvedConfig> config;
};

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

ScheduleFn make_schedule_fn(const Registry& registry) {
  struct Cache {
    std::mutex mutex;
    std::map<std::string, ScheduleEntry> entries;
  };
  auto cache = std::make_shared<Cache>();
  return [cache, &registry](const std::string& schedule, int stages, int microbatches, int virtual_stages,
                            int rank) -> Result<std::vector<llmrt_action>> {
    std::lock_guard<std::mutex> lock(cache->mutex);
    auto found = cache->entries.find(schedule);
    if (found == cache->entries.end()) {
      auto component = registry.lookup(schedule, LLMRT_KIND_PIPELINE_SCHEDULE, "schedule");
      if (!component) return component.error();
      auto config = resolve_default_config(**component);
      if (!config) return config.error();
      found = cache->entries
                  .emplace(schedule, ScheduleEntry{*component, std::make_shared<ResolvedConfig>(std::move(*config))})
                  .first;
    }
    const ScheduleEntry& entry = found->second;
    const llmrt_schedule_shape shape = schedule_shape(stages, microbatches, virtual_stages);
    LLMRT_RETURN_IF_ERROR(check_schedule_shape(*entry.component, *entry.config, shape));
    return schedule_actions(*entry.component, *entry.config, shape, rank);
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

Result<std::unique_ptr<PlanInputs>> load_plan_inputs(const CliOptions& options) {
  auto spec = read_spec(options.config_path, options.overrides);
  if (!spec) return spec.error();
  auto catalog = DeviceCatalog::build(spec->cluster.device_models);
  if (!catalog) return catalog.error();
  auto topology = build_topology(spec->cluster, *catalog);
  if (!topology) return topology.error();
  auto registry = load_plugins(plugin_search_options(options, spec->model));
  if (!registry) return registry.error();
  // The schedule [parallel] names must exist even when the planner may choose another.
  auto named = registry->lookup(spec->parallel.schedule, LLMRT_KIND_PIPELINE_SCHEDULE, "[parallel].schedule");
  if (!named) return named.error();

  auto inputs = std::make_unique<PlanInputs>(std::move(*spec), std::move(*catalog), std::move(*topology),
                                             std::move(*registry));
  PlanRequest& request = inputs->request;
  request.topology = &inputs->topology;
  request.cluster = &inputs->spec.cluster;
  request.parallel = inputs->spec.parallel;
  request.train = inputs->spec.train;
  request.plan = inputs->spec.plan;
  request.seq_len = inputs->spec.model.seq_len.value;
  request.world_size = inputs->topology.world_size();
  request.schedules = candidate_schedules(inputs->registry, inputs->spec.parallel);
  request.layer_costs = make_layer_cost_fn(inputs->spec.model, inputs->registry, inputs->spec.train.precision);
  request.schedule_actions = make_schedule_fn(inputs->registry);
  request.layer_support = make_layer_support_fn(inputs->spec.model, inputs->registry, inputs->spec.train.precision);
  return inputs;
}

}  // namespace llmrt
