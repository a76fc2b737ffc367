// The planner: for a topology, a model and a job, every feasible layout (pp × tp × dp,
// virtual stages, microbatch size, schedule), placed on the devices and links, its stages
// partitioned by device speed and memory, timed by simulating the schedule's real action
// lists over the cost model, and ranked by predicted throughput. Pure: no MPI, no plugins
// (the caller passes their answers in as functions). docs/planner.md has the model.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <llmrt/action.h>

#include "config/spec.h"
#include "plan/layout.h"
#include "schedule/verified_schedule.h"
#include "topology/topology.h"
#include "util/status.h"

namespace llmrt {

// One layer's cost for one microbatch at one tensor-parallel degree, per rank (the layer
// plugin's cost hints, llmrt_cost_hints).
struct LayerCost {
  double forward_flops = 0;
  double backward_input_flops = 0;
  double backward_weight_flops = 0;
  double activation_bytes = 0;  // kept from forward to backward
  double parameter_bytes = 0;   // this rank's slice
  double output_bytes = 0;      // the activation sent to the next stage (p2p)
  // Parameters tied to other layers' (the head's projection to the embedding): tie name → this
  // rank's slice in the training precision. Copies on different pipeline stages sum their
  // gradients once per step, over the links between those stages.
  std::map<std::string, double> tied_parameter_bytes;
  // Activation recompute (llmrt_cost_hints; docs/planner.md, "Memory savers"): the layer's inputs
  // for one microbatch (the host keeps them under every mode), its saved state and extra backward
  // FLOPs under selective recompute, which modes its vtable declares
  // (LLMRT_LAYER_RECOMPUTE_FULL / _SELECTIVE), and its own mode (model.layer[].recompute).
  double input_bytes = 0;
  double selective_activation_bytes = 0;
  double selective_recompute_flops = 0;
  // Device scratch its passes carve beyond the saved buffer (llmrt_cost_hints.workspace_bytes).
  // The layers of one stream share one workspace: a rank holds the largest of its layers', once.
  double workspace_bytes = 0;
  bool supports_full = false;
  bool supports_selective = false;
  std::optional<Recompute> recompute;  // nullopt: the layout's mode
};

// The mode layer `cost` runs in under a layout's mode: its own when set, and none where the
// layer does not declare the mode.
Recompute effective_recompute(const LayerCost& cost, Recompute layout_mode);

// The model's layers' costs at (tp, microbatch size), or why that tp cannot work (e.g. "tp = 3
// does not divide heads = 8", from the layer plugin).
using LayerCostFn = std::function<Result<std::vector<LayerCost>>(int tp, int microbatch_size)>;

// Why layer `layer` (model index) cannot run on `device` with activations of the training
// precision, naming the layer's plugin; "" when it can (the layer plugin's supports() answer).
using LayerSupportFn = std::function<Result<std::string>(int layer, const Device& device)>;

struct PlanRequest {
  const Topology* topology = nullptr;
  const ClusterSpec* cluster = nullptr;
  ParallelSpec parallel;          // fixed degrees and schedule, or "auto"
  TrainSpec train;                // global batch, precision, steps (for energy)
  PlanSpec plan;                  // efficiencies, workspace
  std::int64_t seq_len = 0;
  int world_size = 0;             // ranks to plan for (the topology's device count)
  std::vector<std::string> schedules = {"1f1b", "interleaved-1f1b", "zb-h1", "gpipe"};  // candidates when not fixed
  std::vector<int> microbatch_sizes;  // candidates; empty = {parallel.microbatch_size} when fixed, else 1, 2, 4, 8
  LayerCostFn layer_costs;
  ScheduleSource schedule_source;  // verified action lists of every rank, or why the shape does not work
  LayerSupportFn layer_support;   // unset: every layer runs on every device
};

// How busy one class of link is in a step (nvlink, pcie, shared-memory, network).
struct LinkBusy {
  std::string link_class;
  double seconds_per_step = 0;  // the busiest rank's traffic on links of this class
  double share = 0;             // seconds_per_step ÷ step time
};

struct PlannedLayout {
  Layout layout;                          // degrees, schedule, microbatches, stage_layers
  std::vector<int> rank_to_device;        // [rank] global device index (Topology order)
  double step_time_s = 0;
  double tokens_per_s = 0;
  double mfu = 0;                         // model FLOPs ÷ (sum of device peaks × step time)
  double bubble_fraction = 0;             // idle share of the pipeline, from the simulation
  std::vector<double> peak_memory_gib;    // [rank] parameters, gradients, optimizer state, activations at the schedule's peak, layer scratch, workspace
  std::vector<double> scratch_bytes;      // [rank] of which the layers' shared device scratch (the largest workspace_bytes)
  double power_w = 0;                     // devices' TDP + per-node overhead
  double run_time_s = 0;                  // step time × train.steps: the run's training wall-clock
  double run_energy_kwh = 0;              // power × step time × train.steps
  double run_cost = 0;                    // run_energy_kwh × cluster.price_per_kwh (0 when unset)
  std::vector<std::string> notes;         // warnings: "tp group crosses PCIe: all-reduce 4.1 ms per step more"
  double hardware_flops_per_step = 0;     // model FLOPs plus recompute's extra forward FLOPs, all ranks
  double hfu = 0;                         // hardware_flops_per_step ÷ (sum of device peaks × step time)
  // Why layout.recompute / layout.zero were chosen ("" when none/0 was not in question): "fits only
  // with selective recompute: +9 % step time, −38 % activation memory".
  std::string saver_reason;
  std::vector<LinkBusy> link_busy;        // per link class the layout uses, in LinkClass order
};

struct InfeasibleLayout {
  Layout layout;
  std::string reason;                     // "stage 3 needs 31.2 GiB on RTX-3090 (24 GiB)"
};

// The room planned without one GPU model, where that is faster or takes less energy per token.
struct DeviceAlternative {
  std::string model;                      // the device model left out
  int devices_left = 0;
  PlannedLayout best;                     // rank_to_device indexes the room without `model`
  double speedup = 0;                     // best.tokens_per_s ÷ the whole room's best
  double energy_per_token_ratio = 0;      // (power ÷ tokens/s) without ÷ with: below 1 is cheaper per token
};

struct PlanResult {
  std::vector<PlannedLayout> ranked;      // best first (highest tokens/s)
  std::vector<InfeasibleLayout> infeasible;
  std::string currency;                   // cluster.currency, the unit of run_cost ("" = none given)
  std::vector<DeviceAlternative> without_device;  // plan_without_each_model's, where the caller asked
};

Result<PlanResult> plan_layouts(const PlanRequest& request);

// For a room of several GPU models: plans again without each model in turn (its devices removed
// from request.cluster, links renumbered) and returns the alternatives that are faster or use
// less energy (so cost) per token than with_all's best — a device class that costs more than it
// gives. Rooms of one model, and rooms that no longer plan (fixed degrees), give none.
std::vector<DeviceAlternative> plan_without_each_model(const PlanRequest& request, const PlanResult& with_all);

// The memory savers `run` uses for a layout whose degrees are fixed (stage_layers filled):
// [train].recompute and [parallel].zero as given, and where "auto", the first with which the
// layout fits the placed devices in the planner's order of cost — none/0, zero 1, selective,
// selective with zero 1, full, full with zero 1 — so none/0 whenever it fits as is (and also when
// nothing fits: the memory check then says by how much). Returns the layout with them set.
Result<Layout> choose_memory_savers(const PlanRequest& request, Layout layout);

// The planner's stage split for a layout it was not asked to choose ([parallel] pins the degrees
// but not stage_layers): the layout placed on the topology as the planner places it, its
// layers partitioned by the placed devices' speeds (or [parallel].stage_layers when given),
// exactly as plan_layouts does for that layout. So `run` builds the split `plan` predicted.
// Needs request.topology and request.layer_costs.
Result<std::vector<int>> plan_stage_layers(const PlanRequest& request, const Layout& layout);

// The planner's memory model for a layout it was not asked to choose (stage_layers filled, as
// resolve_job leaves it): [world rank] the GiB one rank holds at its schedule's peak — its
// parameter slice, fp32 gradients, optimizer state (and master copy), the activations in flight,
// [plan].workspace_gib — the figure plan_layouts holds against each device. Needs
// request.layer_costs and request.schedule_source; an error of either (a layer refusing its
// input shape) comes back as is.
Result<std::vector<double>> predict_rank_memory_gib(const PlanRequest& request, const Layout& layout);

}  // namespace llmrt
