// Memory model: what one rank of each pipeline stage holds at its peak — parameters,
// gradients, optimizer state, the activations its schedule keeps in flight, the layers' shared
// scratch, and workspace —
// against the smallest device the stage runs on.
#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "plan/planner_stages.h"

namespace llmrt {

namespace {

constexpr double kGib = 1024.0 * 1024.0 * 1024.0;
constexpr double kFp32Bytes = 4;

// "auto" stores 16 bits on every GPU (bf16 or fp16).
double element_bytes(Precision precision) { return precision == Precision::kFp32 ? 4.0 : 2.0; }

// fp32 state values per parameter the optimizer keeps: SGD its momentum, AdamW (and any
// optimizer we do not know, to err on the safe side) two moments.
double optimizer_state_values(const TrainSpec& train) {
  return train.optimizer.component.value == "sgd" ? 1.0 : 2.0;
}


}  // namespace

Recompute effective_recompute(const LayerCost& cost, Recompute layout_mode) {
  const Recompute mode = cost.recompute.value_or(layout_mode);
  if (mode == Recompute::kFull && cost.supports_full) return Recompute::kFull;
  if (mode == Recompute::kSelective && cost.supports_selective) return Recompute::kSelective;
  return Recompute::kNone;
}

LayerHold layer_hold(const LayerCost& cost, Recompute layout_mode) {
  switch (effective_recompute(cost, layout_mode)) {
    case Recompute::kFull: return {cost.input_bytes, cost.activation_bytes};
    case Recompute::kSelective: return {cost.input_bytes + cost.selective_activation_bytes, 0};
    default: return {cost.input_bytes + cost.activation_bytes, 0};
  }
}

StateBytes state_bytes(double parameter_bytes, const TrainSpec& train, int zero_shards) {
  const double count = parameter_bytes / element_bytes(train.precision);
  const double shards = std::max(zero_shards, 1);
  StateBytes bytes;
  bytes.parameters = parameter_bytes;
  // ZeRO-1 keeps its reduced gradient pieces in a buffer of their own (the reduce-scatter's
  // target), 1/dp of the gradients, beside the whole gradient buffer the layers accumulate into.
  bytes.gradients = kFp32Bytes * count * (shards > 1 ? 1.0 + 1.0 / shards : 1.0);
  bytes.optimizer = kFp32Bytes * optimizer_state_values(train) * count / shards;
  // bf16/fp16: ZeRO-1 shards the fp32 master weights with the state (ParamStore::shard_master,
  // as DeepSpeed and Megatron's distributed optimizer do); the 16-bit copy the layers read
  // (`parameters`) stays whole. Under fp32 the master is what the layers read: nothing extra.
  const double master = train.precision == Precision::kFp32 ? 0.0 : kFp32Bytes * count;
  bytes.master = master / shards;
  return bytes;
}

double peak_activation_bytes(const std::vector<llmrt_action>& actions,
                             const std::vector<double>& chunk_activation_bytes,
                             const std::vector<double>& chunk_transient_bytes,
                             const std::vector<double>& chunk_split_bytes) {
  // W needs the layer inputs kept since F; a schedule without W frees them at B.
  const bool has_weight_pass = std::any_of(actions.begin(), actions.end(), [](const llmrt_action& a) {
    return a.kind == LLMRT_ACTION_BACKWARD_WEIGHT;
  });
  const int release = has_weight_pass ? LLMRT_ACTION_BACKWARD_WEIGHT : LLMRT_ACTION_BACKWARD_INPUT;
  auto at = [](const std::vector<double>& bytes, std::size_t chunk) { return chunk < bytes.size() ? bytes[chunk] : 0.0; };
  std::map<std::pair<int, int>, double> split_held;  // (microbatch, chunk) → rerun state kept until its W
  double held = 0, peak = 0;
  for (std::size_t k = 0; k < actions.size(); ++k) {
    const llmrt_action& action = actions[k];
    const auto chunk = static_cast<std::size_t>(action.chunk);
    const auto key = std::make_pair(action.microbatch, action.chunk);
    if (action.kind == LLMRT_ACTION_FORWARD) held += chunk_activation_bytes.at(chunk);
    if (action.kind == LLMRT_ACTION_BACKWARD_INPUT) {
      // Full recompute reruns each layer's forward before its backward. When the schedule runs
      // the W right after (PipelineRunner::weights_follow), one layer's state at a time is on top
      // of what is held; when the W comes later, every rerun layer keeps its state until then.
      const bool weights_follow = k + 1 < actions.size() && actions[k + 1].kind == LLMRT_ACTION_BACKWARD_WEIGHT &&
                                  actions[k + 1].chunk == action.chunk && actions[k + 1].microbatch == action.microbatch;
      if (has_weight_pass && !weights_follow && at(chunk_split_bytes, chunk) > 0) {
        split_held[key] = at(chunk_split_bytes, chunk);
        held += split_held[key];
      } else {
        peak = std::max(peak, held + at(chunk_transient_bytes, chunk));
      }
    }
    if (action.kind == release) held -= chunk_activation_bytes.at(chunk);
    if (action.kind == LLMRT_ACTION_BACKWARD_WEIGHT) {
      if (const auto split = split_held.find(key); split != split_held.end()) held -= split->second, split_held.erase(split);
    }
    peak = std::max(peak, held);
  }
  return peak;
}

StageMemory estimate_stage_memory(const Layout& layout, const std::vector<LayerCost>& costs,
                                  const std::vector<std::vector<llmrt_action>>& actions, const TrainSpec& train,
                                  double workspace_gib) {
  StageMemory memory;
  const auto pp = static_cast<std::size_t>(layout.pp);
  memory.gib.assign(pp, 0.0);
  memory.state_bytes.assign(pp, 0.0);
  memory.activation_bytes.assign(pp, 0.0);
  memory.scratch_bytes.assign(pp, 0.0);
  const auto v = static_cast<std::size_t>(layout.virtual_stages);
  const int zero_shards = layout.zero == 1 ? layout.dp : 1;
  for (int r = 0; r < layout.pp; ++r) {
    double parameter_bytes = 0;
    std::vector<double> chunk_activations(v, 0.0), chunk_transient(v, 0.0), chunk_split(v, 0.0);
    for (std::size_t c = 0; c < v; ++c) {
      const int stage = layout.virtual_stage(r, static_cast<int>(c));
      const int first = layout.first_layer(stage);
      for (int l = first; l < first + layout.stage_layers[static_cast<std::size_t>(stage)]; ++l) {
        const LayerCost& cost = costs[static_cast<std::size_t>(l)];
        const LayerHold hold = layer_hold(cost, layout.recompute);
        parameter_bytes += cost.parameter_bytes;
        memory.scratch_bytes[r] = std::max(memory.scratch_bytes[r], cost.workspace_bytes);
        chunk_activations[c] += hold.held_bytes;
        chunk_transient[c] = std::max(chunk_transient[c], hold.transient_bytes);
        if (hold.transient_bytes > 0) chunk_split[c] += 1;  // a rerun layer: counted here, sized below
      }
      // The executor's rerun buffers are all the chunk's largest rerun state.
      chunk_split[c] *= chunk_transient[c];
    }
    memory.state_bytes[r] = state_bytes(parameter_bytes, train, zero_shards).total();
    memory.activation_bytes[r] =
        peak_activation_bytes(actions[static_cast<std::size_t>(r)], chunk_activations, chunk_transient, chunk_split);
    memory.gib[r] = memory.bytes(r) / kGib + workspace_gib;
  }
  return memory;
}

std::string memory_shortfall(const StageMemory& memory, const std::vector<StageDevices>& stages) {
  int worst = -1;
  double worst_short = 0;
  for (std::size_t r = 0; r < stages.size(); ++r) {
    const double short_gib = memory.gib[r] - stages[r].min_memory_gib;
    if (short_gib > worst_short) worst = static_cast<int>(r), worst_short = short_gib;
  }
  if (worst < 0) return "";
  const StageDevices& stage = stages[static_cast<std::size_t>(worst)];
  return fmt::format("stage {} needs {:.1f} GiB on {} ({:g} GiB): {:.1f} GiB short", worst,
                     memory.gib[static_cast<std::size_t>(worst)], stage.smallest_model, stage.min_memory_gib,
                     worst_short);
}

}  // namespace llmrt
