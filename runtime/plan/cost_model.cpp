// Cost model: seconds for every pass of the simulated pipeline (FLOPs ÷ achieved FLOP/s plus
// the tp all-reduces inside each layer), for each pipeline transfer (α + bytes ÷ β), and for
// the step's tail: the dp gradient all-reduce (not overlapped with backward: an upper bound)
// and the optimizer pass over the rank's state.
#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "plan/planner_stages.h"

namespace llmrt {

namespace {

// Ring all-reduce of `bytes` over `group` ranks: 2(g−1) steps, each moving bytes / g.
double ring_allreduce_s(double bytes, int group, double latency_s, double s_per_byte) {
  if (group <= 1) return 0;
  const double steps = 2.0 * (group - 1);
  return steps * latency_s + steps / group * bytes * s_per_byte;
}

// Ring reduce-scatter or all-gather of `bytes` (the whole buffer) over `group` ranks: g−1 steps
// of bytes / g each, half an all-reduce.
double ring_half_s(double bytes, int group, double latency_s, double s_per_byte) {
  return ring_allreduce_s(bytes, group, latency_s, s_per_byte) / 2;
}

// The dp group's gradient exchange of one pipeline rank: ZeRO 0 all-reduces the fp32 gradients
// after the last backward; ZeRO 1 reduce-scatters them and all-gathers the updated weights
// after the optimizer step, in the training precision (the 16-bit compute copy under bf16/fp16,
// whose fp32 master is sharded; exec/zero_shards.h): parameter_bytes, half the gradients' there.
// The executor starts the all-gathers non-blocking, bucket by bucket in layer order, and each
// layer waits for its own before its first forward (parallel.zero_overlap): with L equal layers
// of g = G/L gather and f = F/L first-microbatch forward each, layer i+1 starts at
// max over i of ((i+1)·g − i·f), so max(g, G − F·(L−1)/L) is exposed — the first bucket always,
// the rest only where the link is slower than the forwards (a later stage, which waits for its
// input anyway, hides more; not credited). The all-reduce and the reduce-scatter are charged as
// exposed: the executor overlaps both with the backward alike (per bucket), so one overlap model
// for both; a better one would credit both the same way. So ZeRO-1 costs at most what the
// all-reduce costs (two ring halves under fp32; the all-gather half as many bytes under
// bf16/fp16) and less where its all-gather hides behind the forwards; it wins memory.
struct DpExchange {
  double exposed_s = 0;
  double reduce_scatter_s = 0;
  double all_gather_s = 0;
};
DpExchange dp_exchange(const Layout& layout, const LinkCost& ring, double gradient_bytes, double parameter_bytes,
                       double first_forward_s, int layers) {
  DpExchange exchange;
  if (layout.zero != 1) {
    exchange.exposed_s = ring_allreduce_s(gradient_bytes, layout.dp, ring.latency_s, ring.s_per_byte);
    return exchange;
  }
  exchange.reduce_scatter_s = ring_half_s(gradient_bytes, layout.dp, ring.latency_s, ring.s_per_byte);
  exchange.all_gather_s = ring_half_s(parameter_bytes, layout.dp, ring.latency_s, ring.s_per_byte);
  const double all_gather = exchange.all_gather_s, count = std::max(layers, 1);
  exchange.exposed_s = exchange.reduce_scatter_s +
                       std::max(all_gather / count, all_gather - first_forward_s * (count - 1) / count);
  return exchange;
}

// One chunk's passes on one rank; adds its parameter bytes and tp all-reduce times.
struct ChunkTally {
  std::array<double, 3> pass_s{};
  double parameter_bytes = 0;
  double tp_s = 0;
  double tp_nvlink_s = 0;
  double model_flops = 0;
  double recompute_flops = 0;  // recompute's extra forward FLOPs in the backward
};

ChunkTally tally_chunk(const Layout& layout, const std::vector<LayerCost>& costs, int stage,
                       const StageDevices& devices) {
  ChunkTally tally;
  const double flops_per_s = devices.achieved_flops;
  const LinkCost& ring = devices.tp_ring;
  // The same ring inside one NVLink island, for the note when the real one is slower.
  const double nvlink_s_per_byte = devices.tp_nvlink_bandwidth_gbps > 0 && ring.bandwidth_gbps > 0
                                       ? ring.s_per_byte * ring.bandwidth_gbps / devices.tp_nvlink_bandwidth_gbps
                                       : ring.s_per_byte;
  const int first = layout.first_layer(stage);
  for (int l = first; l < first + layout.stage_layers[static_cast<std::size_t>(stage)]; ++l) {
    const LayerCost& cost = costs[static_cast<std::size_t>(l)];
    // One all-reduce of the layer's output per forward and per input-backward pass.
    const double tp_s = ring_allreduce_s(cost.output_bytes, layout.tp, ring.latency_s, ring.s_per_byte);
    tally.pass_s[0] += cost.forward_flops / flops_per_s + tp_s;
    // Recompute runs forward work again before the backward: full the whole forward (with its tp
    // all-reduce), selective the layer's declared share.
    const Recompute mode = effective_recompute(cost, layout.recompute);
    const double rerun_flops = mode == Recompute::kFull        ? cost.forward_flops
                               : mode == Recompute::kSelective ? cost.selective_recompute_flops
                                                               : 0.0;
    const double rerun_tp_s = mode == Recompute::kFull ? tp_s : 0.0;
    tally.pass_s[1] += (cost.backward_input_flops + rerun_flops) / flops_per_s + tp_s + rerun_tp_s;
    tally.recompute_flops += rerun_flops;
    tally.pass_s[2] += cost.backward_weight_flops / flops_per_s;
    tally.parameter_bytes += cost.parameter_bytes;
    tally.tp_s += 2 * tp_s + rerun_tp_s;
    tally.tp_nvlink_s +=
        2 * ring_allreduce_s(cost.output_bytes, layout.tp, std::min(ring.latency_s, kNvlinkLatencyUs * 1e-6),
                             nvlink_s_per_byte);
    tally.model_flops += cost.forward_flops + cost.backward_input_flops + cost.backward_weight_flops;
  }
  return tally;
}

// The activation entering virtual stage `stage` is the previous layer's output.
double input_bytes(const Layout& layout, const std::vector<LayerCost>& costs, int stage) {
  const int first = layout.first_layer(stage);
  return first == 0 ? 0.0 : costs[static_cast<std::size_t>(first - 1)].output_bytes;
}

}  // namespace

StepCosts estimate_step_costs(const Layout& layout, const std::vector<LayerCost>& costs,
                              const PlacedDegrees& placed, const StageMemory& memory, const TrainSpec& train) {
  StepCosts step;
  const auto pp = static_cast<std::size_t>(layout.pp);
  const auto v = static_cast<std::size_t>(layout.virtual_stages);
  step.pass_s.assign(pp, std::vector<std::array<double, 3>>(v));
  step.output_bytes.assign(pp, std::vector<double>(v, 0.0));
  step.input_grad_bytes.assign(pp, std::vector<double>(v, 0.0));
  step.tp_allreduce_s_per_step.assign(pp, 0.0);
  step.tp_nvlink_s_per_step.assign(pp, 0.0);
  double model_flops_per_microbatch = 0, recompute_flops_per_microbatch = 0;
  for (int r = 0; r < layout.pp; ++r) {
    const StageDevices& devices = placed.stages[static_cast<std::size_t>(r)];
    double parameter_bytes = 0;
    for (int c = 0; c < layout.virtual_stages; ++c) {
      const int stage = layout.virtual_stage(r, c);
      const ChunkTally tally = tally_chunk(layout, costs, stage, devices);
      step.pass_s[r][c] = tally.pass_s;
      const int last = layout.first_layer(stage) + layout.stage_layers[static_cast<std::size_t>(stage)] - 1;
      step.output_bytes[r][c] = costs[static_cast<std::size_t>(last)].output_bytes;
      step.input_grad_bytes[r][c] = input_bytes(layout, costs, stage);
      step.tp_allreduce_s_per_step[r] += tally.tp_s * layout.microbatches;
      step.tp_nvlink_s_per_step[r] += tally.tp_nvlink_s * layout.microbatches;
      parameter_bytes += tally.parameter_bytes;
      model_flops_per_microbatch += tally.model_flops;
      recompute_flops_per_microbatch += tally.recompute_flops;
    }
    const double gradient_bytes = state_bytes(parameter_bytes, train).gradients;
    // The next step's first forward on this rank: its first chunk's, one microbatch.
    const int first_chunk = layout.virtual_stage(r, 0);
    const DpExchange dp = dp_exchange(layout, devices.dp_ring, gradient_bytes, parameter_bytes, step.pass_s[r][0][0],
                                      layout.stage_layers[static_cast<std::size_t>(first_chunk)]);
    step.dp_busy_s = std::max(step.dp_busy_s, dp.reduce_scatter_s + dp.all_gather_s);
    if (dp.exposed_s > step.dp_allreduce_s || r == 0) {
      step.dp_allreduce_s = dp.exposed_s, step.dp_bounding_stage = r;
      step.dp_reduce_scatter_s = dp.reduce_scatter_s, step.dp_all_gather_s = dp.all_gather_s;
    }
    // The optimizer reads and writes the whole state once: bound by memory bandwidth.
    step.optimizer_s = std::max(step.optimizer_s, memory.state_bytes[r] / devices.memory_bandwidth);
  }
  // Costs are per tp rank; the model's work is tp of them, per microbatch, per replica.
  const double replicas = layout.tp * static_cast<double>(layout.microbatches) * layout.dp;
  step.model_flops_per_step = model_flops_per_microbatch * replicas;
  step.hardware_flops_per_step = (model_flops_per_microbatch + recompute_flops_per_microbatch) * replicas;
  return step;
}

namespace {

// Pipeline ranks holding each tie name, and its bytes per rank (the copies are one slice each).
std::map<std::string, std::pair<std::set<int>, double>> tie_holders(const Layout& layout,
                                                                   const std::vector<LayerCost>& costs) {
  std::map<std::string, std::pair<std::set<int>, double>> holders;
  for (std::size_t stage = 0; stage < layout.stage_layers.size(); ++stage) {
    const int first = layout.first_layer(static_cast<int>(stage));
    for (int l = first; l < first + layout.stage_layers[stage]; ++l) {
      for (const auto& [name, bytes] : costs[static_cast<std::size_t>(l)].tied_parameter_bytes) {
        auto& [ranks, size] = holders[name];
        ranks.insert(static_cast<int>(stage) % layout.pp);
        size = std::max(size, bytes);
      }
    }
  }
  return holders;
}

// The slowest of the tp × dp rings over `stages`, the network shared by the rings leaving a node.
LinkCost tie_ring(const Layout& layout, const std::set<int>& stages, const PlacedDegrees& placed,
                  const Topology& topology, double network_efficiency) {
  LinkCost worst;
  std::vector<int> leaving(static_cast<std::size_t>(topology.node_count()), 0);
  for (int k = 0; k < layout.dp; ++k) {
    for (int t = 0; t < layout.tp; ++t) {
      std::vector<int> devices;
      for (int r : stages) devices.push_back(placed.rank_to_device[static_cast<std::size_t>(t + layout.tp * (k + layout.dp * r))]);
      const LinkCost ring = ring_cost(topology, devices, network_efficiency);
      if (ring.s_per_byte > worst.s_per_byte) worst = ring;
      if (ring.link_class != LinkClass::kNetwork) continue;
      std::set<int> nodes;
      for (int device : devices) nodes.insert(topology.device(device).node);
      for (int node : nodes) ++leaving[static_cast<std::size_t>(node)];
    }
  }
  share_network(worst, *std::max_element(leaving.begin(), leaving.end()));
  return worst;
}

}  // namespace

void estimate_tie_allreduce(const Layout& layout, const std::vector<LayerCost>& costs, const PlacedDegrees& placed,
                            const Topology& topology, const TrainSpec& train, double network_efficiency,
                            StepCosts& step) {
  for (const auto& [name, holders] : tie_holders(layout, costs)) {
    const auto& [stages, bytes] = holders;
    if (stages.size() < 2) continue;
    const LinkCost ring = tie_ring(layout, stages, placed, topology, network_efficiency);
    const double gradient_bytes = state_bytes(bytes, train).gradients;
    const double seconds = ring_allreduce_s(gradient_bytes, static_cast<int>(stages.size()), ring.latency_s,
                                            ring.s_per_byte);
    step.tie_allreduce_s += seconds;
    step.tie_link_class = ring.link_class;
    std::vector<std::string> names;
    for (int r : stages) names.push_back(std::to_string(r));
    step.tie_notes.push_back(fmt::format("tied {} gradients ({:.1f} MB fp32) summed between stages {} over {} "
                                         "({:g} Gbit/s{}): {:.1f} ms per step",
                                         name, gradient_bytes / 1e6, fmt::join(names, ", "),
                                         link_class_name(ring.link_class), ring.bandwidth_gbps,
                                         ring.sharers > 1 ? fmt::format(", shared by {} rings", ring.sharers) : "",
                                         seconds * 1e3));
  }
}

Result<SimulatedTimeline> simulate_step(const Layout& layout, const std::vector<std::vector<llmrt_action>>& actions,
                                        const StepCosts& step, const PlacedDegrees& placed) {
  const ScheduleShape shape{layout.pp, layout.microbatches, layout.virtual_stages};
  const ComputeCost compute = [&](int rank, const llmrt_action& action) {
    const int pass = action.kind == LLMRT_ACTION_FORWARD ? 0 : action.kind == LLMRT_ACTION_BACKWARD_INPUT ? 1 : 2;
    return step.pass_s[static_cast<std::size_t>(rank)][static_cast<std::size_t>(action.chunk)][pass];
  };
  const TransferCost transfer = [&](int from, int to, const llmrt_action& send) {
    const auto& bytes = send.kind == LLMRT_ACTION_SEND_ACTIVATION ? step.output_bytes : step.input_grad_bytes;
    const auto link = placed.p2p.find({from, to});
    if (link == placed.p2p.end()) return 0.0;  // same rank: nothing crosses a link
    const double message = bytes[static_cast<std::size_t>(from)][static_cast<std::size_t>(send.chunk)];
    return link->second.latency_s + message * link->second.s_per_byte;
  };
  return simulate_verified_schedule(shape, actions, compute, transfer);  // verified once per shape (planner.cpp)
}

}  // namespace llmrt
