// The stages of plan_layouts (planner.h), in data-flow order: enumerate candidate layouts,
// place ranks on devices, partition layers by device speed, check memory, cost and simulate
// one step. Internal to llmrt_plan; each stage is pure and tested on its own.
#pragma once

#include <array>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "plan/planner.h"
#include "schedule/simulator.h"
#include "topology/device_catalog.h"

namespace llmrt {

// ------------------------------------------------------------------ enumerate.cpp
struct Degrees {
  int pp = 1, tp = 1, dp = 1;
};

// Every pp × tp × dp = world with pp ≤ layers, the values [parallel] fixes respected. A fixed
// value that contradicts the world or the model is an input error naming its key path.
// Whether tp divides the heads is the layer costs' answer, checked by the caller.
Result<std::vector<Degrees>> enumerate_degrees(const PlanRequest& request, int layers);

// The microbatch sizes to try: the request's candidates, else [parallel].microbatch_size when
// the user fixed every degree, else 1, 2, 4, 8.
std::vector<int> microbatch_size_candidates(const PlanRequest& request);

// Schedule and virtual-stage variants for (degrees, microbatch size) whose microbatch count is
// a whole number and whose shape the schedule accepts by the planner's rules; the others go to
// `infeasible` with the reason. stage_layers of the returned layouts is still empty.
std::vector<Layout> enumerate_schedules(const PlanRequest& request, const Degrees& degrees, int microbatch_size,
                                        int layers, std::vector<InfeasibleLayout>& infeasible);

// ------------------------------------------------------------------ placement.cpp
// Seconds a message of `bytes` takes on a link: latency_s + bytes · s_per_byte (the slowest
// member of a group, bandwidth shared by every rank that uses the same node's network at once).
struct LinkCost {
  double latency_s = 0;
  double s_per_byte = 0;
  LinkClass link_class = LinkClass::kSameDevice;
  double bandwidth_gbps = 0;  // the nominal bandwidth of the bounding link
  int sharers = 1;            // ranks sharing that link's bandwidth at the same time
};

// What one pipeline rank's devices (its tp × dp ranks) can do; the slowest bounds the stage.
struct StageDevices {
  double peak_flops = 0;         // slowest device's peak for the training precision, FLOP/s
  double achieved_flops = 0;     // slowest device's peak × its compute efficiency, FLOP/s
  double memory_bandwidth = 0;   // slowest device's memory bandwidth, bytes/s
  double min_memory_gib = 0;     // the smallest device's memory
  std::string smallest_model;    // its model name, for "needs 31.2 GiB on RTX-3090 (24 GiB)"
  std::string slowest_model;
  LinkCost tp_ring;              // worst tp group of the stage (ring neighbours)
  LinkCost dp_ring;              // worst dp group of the stage
  double tp_nvlink_bandwidth_gbps = 0;  // what the tp ring would have inside an NVLink island; 0 = none
  bool tp_crosses_island = false;
};

// A degree triple on the topology: rank → device and the links each group uses.
struct PlacedDegrees {
  Degrees degrees;
  std::vector<int> rank_to_device;                 // [rank] global device index
  std::vector<StageDevices> stages;                // [pp rank]
  std::map<std::pair<int, int>, LinkCost> p2p;     // (from, to) pipeline ranks: worst replica pair
};

// A ring over `devices` in order: as slow as its slowest neighbour link.
LinkCost ring_cost(const Topology& topology, const std::vector<int>& devices, double network_efficiency);
// A node's network bandwidth is per node: `sharers` groups leaving it at once divide it.
void share_network(LinkCost& cost, int sharers);

// Ranks onto devices: tp groups packed into NVLink islands (else into one node, else anywhere),
// groups of one device model kept together within a node, then pipeline stages as contiguous
// blocks in node order so stage boundaries fall between nodes and dp stays inside them.
std::vector<int> place_ranks(const Topology& topology, const Degrees& degrees);

// place_ranks plus every group's link costs and each stage's device limits; O(devices).
// `compute_efficiency` is [plan]'s, for the devices whose gpus group gives none.
PlacedDegrees place_and_describe(const Topology& topology, const Degrees& degrees, Precision precision,
                                 double compute_efficiency, double network_efficiency);

// ------------------------------------------------------------------ partition.cpp
// The algorithm behind partition_layers (layout.h) without the config: contiguous layers per
// virtual stage (s on pipeline rank s % pp) minimising the largest time work / speed, then the
// most even times. Needs layer_work.size() ≥ pp × virtual_stages and rank_speed.size() == pp.
std::vector<int> partition_by_speed(const std::vector<double>& layer_work, const std::vector<double>& rank_speed,
                                    int pp, int virtual_stages);

// ------------------------------------------------------------------ memory_model.cpp
// Bytes one rank holds per parameter byte of its slice beyond the parameter itself:
// fp32 gradients, optimizer state and, for bf16/fp16, an fp32 master copy.
struct StateBytes {
  double parameters = 0;   // the slice in the training precision
  double gradients = 0;    // fp32
  double optimizer = 0;    // AdamW: 2 × fp32; SGD: 1 × fp32 (momentum)
  double master = 0;       // fp32 copy when training in bf16/fp16
  double total() const { return parameters + gradients + optimizer + master; }
};
// Under ZeRO-1 (`zero_shards` = dp) the optimizer state and the master copy are the rank's
// 1/dp slice; the gradients stay whole.
StateBytes state_bytes(double parameter_bytes, const TrainSpec& train, int zero_shards = 1);

// What the executor holds of one layer per microbatch from its forward to its backward (the host
// keeps every layer's input buffer and the layer's saved buffer, exec/stage.cpp): none:
// input_bytes + activation_bytes; selective: input_bytes + selective_activation_bytes; full:
// input_bytes, and during the backward the rerun's saved state, one layer at a time (transient).
struct LayerHold {
  double held_bytes = 0;
  double transient_bytes = 0;
};
LayerHold layer_hold(const LayerCost& cost, Recompute layout_mode);

// Largest activation bytes a rank holds at once walking its action list: a microbatch's
// chunk activations are kept from FORWARD until BACKWARD_WEIGHT (or BACKWARD_INPUT when the
// schedule has no separate W). `chunk_activation_bytes` [chunk].
// `chunk_transient_bytes` [chunk] (optional): bytes held only during a backward pass of the chunk
// (full recompute's rerun state, one layer at a time), added to what is held at that moment.
// `chunk_split_bytes` [chunk] (optional): with a separate W, the rerun state every rerun layer of
// the chunk keeps from its BACKWARD_INPUT until the BACKWARD_WEIGHT (exec/stage_recompute.cpp).
double peak_activation_bytes(const std::vector<llmrt_action>& actions,
                             const std::vector<double>& chunk_activation_bytes,
                             const std::vector<double>& chunk_transient_bytes = {},
                             const std::vector<double>& chunk_split_bytes = {});

// Per pipeline rank, the memory of one of its ranks in GiB.
struct StageMemory {
  std::vector<double> gib;               // [pp rank] total
  std::vector<double> state_bytes;       // [pp rank] parameters + gradients + optimizer (+ master)
  std::vector<double> activation_bytes;  // [pp rank] at the schedule's peak
  // [pp rank] the layers' shared scratch: the largest LayerCost::workspace_bytes over the rank's
  // layers, every virtual stage included (they run on one stream and share one workspace).
  std::vector<double> scratch_bytes;
  // gib = (state + activations + scratch) / 2^30 + [plan].workspace_gib.
  double bytes(std::size_t r) const { return state_bytes[r] + activation_bytes[r] + scratch_bytes[r]; }
};
StageMemory estimate_stage_memory(const Layout& layout, const std::vector<LayerCost>& costs,
                                  const std::vector<std::vector<llmrt_action>>& actions, const TrainSpec& train,
                                  double workspace_gib);

// "" when every stage fits its smallest device, else "stage 3 needs 31.2 GiB on RTX-3090
// (24 GiB): 7.2 GiB short" for the stage short by the most.
std::string memory_shortfall(const StageMemory& memory, const std::vector<StageDevices>& stages);

// ------------------------------------------------------------------ cost_model.cpp
// Seconds of every pass on the simulated pipeline, and the step's other terms.
struct StepCosts {
  // [pp rank][chunk][0 forward, 1 backward-input, 2 backward-weight], tp all-reduce included.
  std::vector<std::vector<std::array<double, 3>>> pass_s;
  std::vector<std::vector<double>> output_bytes;       // [pp rank][chunk] activation sent on
  std::vector<std::vector<double>> input_grad_bytes;   // [pp rank][chunk] gradient sent back
  std::vector<double> tp_allreduce_s_per_step;         // [pp rank] all microbatches' tp all-reduces
  std::vector<double> tp_nvlink_s_per_step;            // [pp rank] the same inside one NVLink island
  double dp_allreduce_s = 0;                           // slowest stage's exposed dp gradient exchange
  int dp_bounding_stage = 0;                           // the pp rank whose dp exchange that is
  double dp_reduce_scatter_s = 0;                      // ZeRO 1, that stage: reduce-scatter (overlapped
  double dp_all_gather_s = 0;                          //   with its last backward) and all-gather
  double dp_busy_s = 0;                                // ZeRO 1: the largest RS + AG (link busy time)
  double tie_allreduce_s = 0;                          // tied copies' gradient sums across stages
  LinkClass tie_link_class = LinkClass::kSameDevice;   // the slowest tie ring's links
  std::vector<std::string> tie_notes;                  // one per tie crossing stages, with its link
  double optimizer_s = 0;                              // slowest stage's optimizer pass
  double model_flops_per_step = 0;                     // all ranks, all microbatches
  double hardware_flops_per_step = 0;                  // the same plus recompute's extra forward FLOPs
};
StepCosts estimate_step_costs(const Layout& layout, const std::vector<LayerCost>& costs,
                              const PlacedDegrees& placed, const StageMemory& memory, const TrainSpec& train);

// The gradient all-reduce of tied parameters whose copies sit on different pipeline stages
// (the embedding on stage 0, the head on the last): for every tp and dp position a ring over
// those stages' ranks, fp32 gradients, after the dp all-reduce as the trainer does it. Sets
// step.tie_allreduce_s and step.tie_notes.
void estimate_tie_allreduce(const Layout& layout, const std::vector<LayerCost>& costs, const PlacedDegrees& placed,
                            const Topology& topology, const TrainSpec& train, double network_efficiency,
                            StepCosts& step);

// Simulates one pipeline's action lists with `step` costs and the placement's p2p links.
Result<SimulatedTimeline> simulate_step(const Layout& layout, const std::vector<std::vector<llmrt_action>>& actions,
                                        const StepCosts& step, const PlacedDegrees& placed);

// ------------------------------------------------------------------ simulate.cpp
// A schedule's action lists at one microbatch count and the memory they imply.
struct ScheduleSample {
  Layout layout;                                    // microbatches = the sample's count
  std::vector<std::vector<llmrt_action>> actions;   // [pp rank]
  StageMemory memory;
};

// The layout's own count when small, else two counts past the schedule's warm-up (both
// multiples of pp) to extrapolate from; the schedule's error when it rejects the shape.
Result<std::vector<ScheduleSample>> sample_schedule(const PlanRequest& request, const Layout& layout,
                                                    const std::vector<LayerCost>& costs);

// Stage memory at `microbatches`, extrapolated linearly from the samples (GPipe grows with m,
// 1F1B does not).
StageMemory memory_at(const std::vector<ScheduleSample>& samples, int microbatches, double workspace_gib);

struct StepTiming {
  double makespan_s = 0;       // the pipeline's part of the step
  double bubble_fraction = 0;  // idle share of pp × makespan
};
// Simulates the samples with `step` costs; makespan extrapolated linearly to layout.microbatches.
Result<StepTiming> time_step(const Layout& layout, const std::vector<ScheduleSample>& samples, const StepCosts& step,
                             const PlacedDegrees& placed);

// ------------------------------------------------------------------ link_busy.cpp
// Per link class, the seconds per step its links carry traffic for the busiest pipeline rank
// (tp all-reduces and pipeline sends), plus the dp exchange of the bounding stage (ZeRO 1: the
// reduce-scatter and all-gather, overlapped or not) and the tied-gradient sums; share = seconds ÷
// step time (above 1 where links of one class carry traffic for several passes at once).
std::vector<LinkBusy> estimate_link_busy(const Layout& layout, const PlacedDegrees& placed, const StepCosts& step,
                                         double step_time_s);

// ------------------------------------------------------------------ savers.cpp
struct SaverOption {
  Recompute recompute = Recompute::kNone;
  int zero = 0;
};

// The options for one layout in groups of rising cost, each group's options of one recompute
// mode: [train].recompute and [parallel].zero when fixed, else none, selective, full (a mode that
// changes no layer is left out) × zero 0, 1 (1 only where dp > 1).
std::vector<std::vector<SaverOption>> saver_groups(const PlanRequest& request, const Layout& layout,
                                                   const std::vector<LayerCost>& costs);

// One option on one layout: its memory, whether it fits, and, where it fits or `time_if_short`
// asks, its step time (for the comparison with the option chosen).
struct SaverTry {
  Layout layout;             // recompute and zero set
  StageMemory memory;
  std::string shortfall;     // "" when every stage fits
  std::string error;         // the simulation's, when it failed
  StepCosts step;
  StepTiming timing;
  bool timed = false;        // step, timing and step_time_s filled
  double step_time_s = 0;    // makespan + exposed dp exchange + tied sums + optimizer
  std::string reason;        // filled for the chosen option: saver_reason against the baseline
};
// `same_pipeline`: an earlier try of the same layout whose timing is reused when its recompute
// mode is this option's (the zero stage does not change the pipeline's makespan).
SaverTry try_savers(const PlanRequest& request, Layout layout, SaverOption option,
                    const std::vector<ScheduleSample>& samples, const std::vector<LayerCost>& costs,
                    const PlacedDegrees& placed, const SaverTry* same_pipeline = nullptr,
                    bool time_if_short = false);

// Why `chosen` and not the baseline (the first option), or "" when they are the same: "pp2·tp4·dp2
// fits only with selective recompute: +9 % step time, −38 % activation memory (without: …)".
std::string saver_reason(const SaverTry& chosen, const SaverTry& baseline);

// The first group with an option that fits, its fastest option (with `first_that_fits`, its
// first: zero 0 before zero 1); else why not (the most saving option's shortfall).
struct SaverChoice {
  std::optional<SaverTry> chosen;
  SaverTry baseline;
  std::string infeasible_reason;
};
SaverChoice choose_savers(const PlanRequest& request, const Layout& layout, const std::vector<ScheduleSample>& samples,
                          const std::vector<LayerCost>& costs, const PlacedDegrees& placed,
                          bool first_that_fits = false);

}  // namespace llmrt
