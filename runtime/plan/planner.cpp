// plan_layouts: enumerate → place → partition → memory → cost and simulate → rank. Each
// candidate either becomes a PlannedLayout or an InfeasibleLayout with the reason.
#include "plan/planner.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>
#include <variant>

#include <fmt/format.h>

#include "plan/planner_stages.h"

namespace llmrt {

namespace {

using Evaluated = std::variant<PlannedLayout, InfeasibleLayout>;
using CostCache = std::map<std::pair<int, int>, Result<std::vector<LayerCost>>>;

Status check_request(const PlanRequest& request) {
  if (request.topology == nullptr) return input_error("plan: no topology");
  if (!request.layer_costs || !request.schedule_source) return input_error("plan: no layer costs or schedules");
  if (request.world_size != request.topology->world_size()) {
    return input_error("plan: {} ranks requested but the topology has {} devices (one rank per device)",
                       request.world_size, request.topology->world_size());
  }
  if (request.seq_len < 1) return input_error("plan: model.seq_len must be at least 1");
  if (request.train.global_batch.value < 1) {
    return input_error("{}: global_batch must be at least 1", key_where(request.train.global_batch.pos,
                                                                       "train.global_batch"));
  }
  if (request.plan.compute_efficiency <= 0 || request.plan.network_efficiency <= 0) {
    return input_error("plan.compute_efficiency and plan.network_efficiency must be above 0");
  }
  return Status::success();
}

const Result<std::vector<LayerCost>>& costs_at(const PlanRequest& request, CostCache& cache, int tp, int mbs) {
  auto found = cache.find({tp, mbs});
  if (found == cache.end()) found = cache.emplace(std::pair{tp, mbs}, request.layer_costs(tp, mbs)).first;
  return found->second;
}

// What every candidate shares: the layer count, a fixed split and a fixed tp that the model accepts.
Result<int> check_model(const PlanRequest& request, CostCache& cache, const std::vector<int>& microbatch_sizes) {
  const auto& base = costs_at(request, cache, 1, microbatch_sizes.front());
  if (!base.ok()) return base.error().with_context("model layer costs");
  const int layers = static_cast<int>(base->size());
  if (layers < 1) return input_error("plan: the model has no layers");
  const ParallelSpec& parallel = request.parallel;
  if (parallel.tp.value) {
    for (int mbs : microbatch_sizes) {
      const auto& at_tp = costs_at(request, cache, *parallel.tp.value, mbs);
      if (!at_tp.ok()) return input_error("{}: {}", key_where(parallel.tp.pos, "parallel.tp"), at_tp.error().message());
    }
  }
  if (const auto& split = parallel.stage_layers.value) {
    int total = 0;
    for (int count : *split) {
      if (count < 1) return input_error("{}: every stage needs at least one layer", key_where(parallel.stage_layers.pos,
                                                                                           "parallel.stage_layers"));
      total += count;
    }
    if (total != layers) {
      return input_error("{}: {} layers in all, but the model has {}",
                         key_where(parallel.stage_layers.pos, "parallel.stage_layers"), total, layers);
    }
  }
  return layers;
}

// Layers per virtual stage: [parallel].stage_layers, else balanced by each stage's device speed.
Result<std::vector<int>> split_layers(const PlanRequest& request, const Layout& layout,
                                      const std::vector<LayerCost>& costs, const PlacedDegrees& placed) {
  std::vector<double> work;
  for (const LayerCost& cost : costs) {
    work.push_back(cost.forward_flops + cost.backward_input_flops + cost.backward_weight_flops);
  }
  std::vector<double> speed;
  for (const StageDevices& stage : placed.stages) speed.push_back(stage.achieved_flops);
  return partition_layers(request.parallel, work, speed, layout.pp, layout.virtual_stages);
}

// The first layer that cannot run on a device of its stage, as the reason the layout is
// infeasible; "" when every layer can. Virtual stage s runs on pipeline rank s % pp, whose ranks
// are the contiguous block [rank * tp * dp, (rank + 1) * tp * dp).
std::string unsupported_layer_problem(const PlanRequest& request, const Layout& layout, const PlacedDegrees& placed) {
  if (!request.layer_support) return "";
  const int per_stage = layout.tp * layout.dp;
  int first_layer = 0;
  for (std::size_t stage = 0; stage < layout.stage_layers.size(); ++stage) {
    const int pp_rank = static_cast<int>(stage) % layout.pp;
    std::vector<const Device*> models;  // one device per model in this stage
    for (int rank = pp_rank * per_stage; rank < (pp_rank + 1) * per_stage; ++rank) {
      const Device& device = request.topology->device(placed.rank_to_device[static_cast<std::size_t>(rank)]);
      const bool seen = std::any_of(models.begin(), models.end(), [&](const Device* d) { return d->model == device.model; });
      if (!seen) models.push_back(&device);
    }
    const int last_layer = first_layer + layout.stage_layers[stage];
    for (int layer = first_layer; layer < last_layer; ++layer) {
      for (const Device* device : models) {
        auto problem = request.layer_support(layer, *device);
        if (!problem.ok()) return problem.error().message();
        if (!problem->empty()) return *problem;
      }
    }
    first_layer = last_layer;
  }
  return "";
}

std::string slowest_stage_problem(const PlacedDegrees& placed, const TrainSpec& train) {
  for (std::size_t r = 0; r < placed.stages.size(); ++r) {
    if (placed.stages[r].peak_flops <= 0) {
      return fmt::format("stage {} runs on {}, which has no {} throughput in the device catalog", r,
                         placed.stages[r].slowest_model, precision_name(train.precision));
    }
  }
  return "";
}

std::vector<std::string> layout_notes(const Layout& layout, const PlacedDegrees& placed, const StepCosts& step) {
  std::vector<std::string> notes;
  for (std::size_t r = 0; r < placed.stages.size(); ++r) {
    const StageDevices& stage = placed.stages[r];
    if (layout.tp <= 1 || !stage.tp_crosses_island || stage.tp_ring.link_class == LinkClass::kSharedMemory) continue;
    const double ms = step.tp_allreduce_s_per_step[r] * 1e3;
    const double extra_ms = (step.tp_allreduce_s_per_step[r] - step.tp_nvlink_s_per_step[r]) * 1e3;
    notes.push_back(stage.tp_nvlink_bandwidth_gbps > 0
                        ? fmt::format("tp group of stage {} crosses {} ({:g} Gbit/s): tp all-reduce {:.1f} ms per step, "
                                      "{:.1f} ms more than inside one NVLink island",
                                      r, link_class_name(stage.tp_ring.link_class), stage.tp_ring.bandwidth_gbps, ms,
                                      extra_ms)
                        : fmt::format("tp group of stage {} over {} ({:g} Gbit/s, no NVLink): tp all-reduce {:.1f} ms "
                                      "per step",
                                      r, link_class_name(stage.tp_ring.link_class), stage.tp_ring.bandwidth_gbps, ms));
    break;  // one stage says it; the others are placed alike
  }
  if (layout.dp > 1) {
    // The link named is the one the time was computed on: the slowest stage's ring, not stage 0's.
    const std::size_t bounding = static_cast<std::size_t>(step.dp_bounding_stage);
    const LinkCost& ring = placed.stages[bounding].dp_ring;
    const std::string link = fmt::format("{} ({:g} Gbit/s{})", link_class_name(ring.link_class), ring.bandwidth_gbps,
                                         ring.sharers > 1 ? fmt::format(", shared by {} rings", ring.sharers) : "");
    notes.push_back(layout.zero == 1
                        ? fmt::format("zero 1: gradient reduce-scatter {:.1f} ms over {} in stage {}, overlapped with "
                                      "the last backward; parameter all-gather {:.1f} ms after the optimizer step; "
                                      "{:.1f} ms exposed per step",
                                      step.dp_reduce_scatter_s * 1e3, link, bounding, step.dp_all_gather_s * 1e3,
                                      step.dp_allreduce_s * 1e3)
                        : fmt::format("dp all-reduce {:.1f} ms per step over {} in stage {}, not overlapped with "
                                      "backward",
                                      step.dp_allreduce_s * 1e3, link, bounding));
  }
  notes.insert(notes.end(), step.tie_notes.begin(), step.tie_notes.end());
  return notes;
}

PlannedLayout planned_from(const PlanRequest& request, const PlacedDegrees& placed, SaverTry chosen) {
  const StepCosts& step = chosen.step;
  PlannedLayout out;
  out.step_time_s = chosen.step_time_s;
  out.tokens_per_s = static_cast<double>(request.train.global_batch.value) * static_cast<double>(request.seq_len) /
                     out.step_time_s;
  const double peak = training_peak_tflops(*request.topology, request.train.precision) * 1e12;
  out.mfu = step.model_flops_per_step / (peak * out.step_time_s);
  out.hardware_flops_per_step = step.hardware_flops_per_step;
  out.hfu = step.hardware_flops_per_step / (peak * out.step_time_s);
  out.bubble_fraction = chosen.timing.bubble_fraction;
  out.rank_to_device = placed.rank_to_device;
  out.peak_memory_gib.resize(out.rank_to_device.size());
  const Layout& layout = chosen.layout;
  const int per_stage = layout.tp * layout.dp;
  for (std::size_t rank = 0; rank < out.peak_memory_gib.size(); ++rank) {
    out.peak_memory_gib[rank] = chosen.memory.gib[rank / static_cast<std::size_t>(per_stage)];
  }
  out.scratch_bytes.resize(out.rank_to_device.size());
  for (std::size_t rank = 0; rank < out.scratch_bytes.size(); ++rank) {
    out.scratch_bytes[rank] = chosen.memory.scratch_bytes[rank / static_cast<std::size_t>(per_stage)];
  }
  const ClusterSpec* cluster = request.cluster;
  out.power_w = request.topology->total_power_w(cluster ? cluster->power_overhead_w_per_node : 0.0);
  out.run_time_s = out.step_time_s * static_cast<double>(request.train.steps);
  out.run_energy_kwh = out.power_w * out.run_time_s / 3.6e6;
  out.run_cost = cluster ? out.run_energy_kwh * cluster->price_per_kwh : 0.0;
  out.notes = layout_notes(layout, placed, step);
  out.saver_reason = std::move(chosen.reason);
  out.link_busy = estimate_link_busy(chosen.layout, placed, step, out.step_time_s);
  out.layout = std::move(chosen.layout);
  return out;
}

// The layout's split, device checks and schedule sample; nullopt-free: the samples, or why not.
Result<std::vector<ScheduleSample>> prepare_layout(const PlanRequest& request, Layout& layout,
                                                   const std::vector<LayerCost>& costs, const PlacedDegrees& placed) {
  if (std::string why = slowest_stage_problem(placed, request.train); !why.empty()) return input_error("{}", why);
  if (layout.stage_layers.empty()) {
    LLMRT_ASSIGN_OR_RETURN(layout.stage_layers, split_layers(request, layout, costs, placed));
  }
  if (std::string why = unsupported_layer_problem(request, layout, placed); !why.empty()) return input_error("{}", why);
  return sample_schedule(request, layout, costs);
}

Evaluated evaluate_layout(const PlanRequest& request, Layout layout, const std::vector<LayerCost>& costs,
                          const PlacedDegrees& placed) {
  auto samples = prepare_layout(request, layout, costs, placed);
  if (!samples.ok()) return InfeasibleLayout{std::move(layout), samples.error().message()};
  SaverChoice choice = choose_savers(request, layout, *samples, costs, placed);
  if (!choice.chosen) return InfeasibleLayout{std::move(choice.baseline.layout), std::move(choice.infeasible_reason)};
  return planned_from(request, placed, std::move(*choice.chosen));
}

// Best first by tokens/s; layouts within 0.01% of each other count as tied and the one with
// less memory goes first. Bucketing log(tokens/s) keeps the order a strict weak ordering.
void rank_layouts(std::vector<PlannedLayout>& ranked) {
  const auto max_memory = [](const PlannedLayout& p) {
    return p.peak_memory_gib.empty() ? 0.0 : *std::max_element(p.peak_memory_gib.begin(), p.peak_memory_gib.end());
  };
  const auto bucket = [](const PlannedLayout& p) { return std::llround(std::log(p.tokens_per_s) * 1e4); };
  std::stable_sort(ranked.begin(), ranked.end(), [&](const PlannedLayout& a, const PlannedLayout& b) {
    if (bucket(a) != bucket(b)) return bucket(a) > bucket(b);
    if (max_memory(a) != max_memory(b)) return max_memory(a) < max_memory(b);
    return a.tokens_per_s > b.tokens_per_s;
  });
}

double max_peak_gib(const PlannedLayout& p) {
  return p.peak_memory_gib.empty() ? 0.0 : *std::max_element(p.peak_memory_gib.begin(), p.peak_memory_gib.end());
}

// Why `schedule` (faster) differs from 1f1b on the same degrees and microbatching.
std::string schedule_gap_reason(const PlannedLayout& faster, const PlannedLayout& one_f_one_b) {
  const Layout& l = faster.layout;
  const std::string bubbles = fmt::format("bubble {:.1f} % vs {:.1f} %, peak memory {:.1f} GiB vs {:.1f} GiB",
                                          faster.bubble_fraction * 100, one_f_one_b.bubble_fraction * 100,
                                          max_peak_gib(faster), max_peak_gib(one_f_one_b));
  if (l.schedule == "interleaved-1f1b" && l.virtual_stages == 1) {
    return fmt::format("with v = 1 it is 1F1B with Megatron's deeper warm-up: pipeline rank r runs 2·(pp−1−r) "
                       "forwards before its first backward where 1f1b runs pp−1−r, so more microbatches are in "
                       "flight and the pipeline transfers hide behind compute ({})", bubbles);
  }
  if (l.schedule == "interleaved-1f1b") {
    return fmt::format("each pipeline rank runs v = {} model chunks, which shortens the warm-up and cool-down "
                       "about v-fold ({})", l.virtual_stages, bubbles);
  }
  if (l.schedule == "gpipe") {
    return fmt::format("all forwards run before any backward, so the pipeline transfers hide behind compute, at the "
                       "cost of every microbatch's activations held at once ({})", bubbles);
  }
  if (l.schedule == "zb-h1") {
    return fmt::format("the weight-gradient passes (W) are deferred into the bubble ({})", bubbles);
  }
  return bubbles;
}

// A schedule that beats 1f1b on the same degrees and microbatching by more than 5 % says why, so
// a 30 % gap between "interleaved-1f1b v1" and "1f1b" is not left for the reader to puzzle out.
void explain_schedule_gaps(std::vector<PlannedLayout>& ranked) {
  const auto key = [](const Layout& l) { return std::tuple{l.pp, l.tp, l.dp, l.microbatch_size}; };
  std::map<std::tuple<int, int, int, int>, const PlannedLayout*> baseline;
  for (const PlannedLayout& p : ranked) {
    if (p.layout.schedule == "1f1b") baseline[key(p.layout)] = &p;
  }
  for (PlannedLayout& p : ranked) {
    const auto found = baseline.find(key(p.layout));
    if (found == baseline.end() || p.layout.schedule == "1f1b") continue;
    const PlannedLayout& base = *found->second;
    if (p.step_time_s >= 0.95 * base.step_time_s) continue;
    p.notes.push_back(fmt::format("{} v{} is {:.0f} % faster than 1f1b on the same layout (step {:.0f} ms vs {:.0f} "
                                  "ms): {}",
                                  p.layout.schedule, p.layout.virtual_stages,
                                  (base.step_time_s / p.step_time_s - 1) * 100, p.step_time_s * 1e3,
                                  base.step_time_s * 1e3, schedule_gap_reason(p, base)));
  }
}

}  // namespace

Result<std::vector<int>> plan_stage_layers(const PlanRequest& request, const Layout& layout) {
  if (request.topology == nullptr || !request.layer_costs) return input_error("plan: no topology or layer costs");
  if (layout.world_size() != request.topology->world_size()) {
    return input_error("pp × tp × dp = {} × {} × {} = {} ranks, but the topology has {} devices (one rank per "
                       "device)", layout.pp, layout.tp, layout.dp, layout.world_size(),
                       request.topology->world_size());
  }
  LLMRT_ASSIGN_OR_RETURN_CTX(std::vector<LayerCost> costs, request.layer_costs(layout.tp, layout.microbatch_size),
                             "model layer costs at tp = {}", layout.tp);
  const PlacedDegrees placed =
      place_and_describe(*request.topology, Degrees{layout.pp, layout.tp, layout.dp},
                         request.train.precision, request.plan.compute_efficiency, request.plan.network_efficiency);
  if (std::string why = slowest_stage_problem(placed, request.train); !why.empty()) return input_error("{}", why);
  return split_layers(request, layout, costs, placed);
}

Result<Layout> choose_memory_savers(const PlanRequest& request, Layout layout) {
  if (request.topology == nullptr || !request.layer_costs || !request.schedule_source) {
    return input_error("plan: no topology, layer costs or schedules");
  }
  if (request.train.recompute.value != Recompute::kAuto) layout.recompute = request.train.recompute.value;
  if (request.parallel.zero.value) layout.zero = *request.parallel.zero.value;
  if (request.train.recompute.value != Recompute::kAuto && request.parallel.zero.value) return layout;
  if (layout.world_size() != request.topology->world_size()) return layout;  // a world of one: as is
  LLMRT_ASSIGN_OR_RETURN_CTX(std::vector<LayerCost> costs, request.layer_costs(layout.tp, layout.microbatch_size),
                             "model layer costs at tp = {}", layout.tp);
  const PlacedDegrees placed =
      place_and_describe(*request.topology, Degrees{layout.pp, layout.tp, layout.dp},
                         request.train.precision, request.plan.compute_efficiency, request.plan.network_efficiency);
  Layout prepared = layout;
  auto samples = prepare_layout(request, prepared, costs, placed);
  if (!samples.ok()) return layout;  // the run's own checks say why
  // The cheapest that fits, in the planner's order: none/0 whenever the degrees fit as they are.
  const SaverChoice choice = choose_savers(request, prepared, *samples, costs, placed, /*first_that_fits=*/true);
  const Layout& chosen = choice.chosen ? choice.chosen->layout : choice.baseline.layout;
  layout.recompute = chosen.recompute;
  layout.zero = chosen.zero;
  return layout;
}

Result<PlanResult> plan_layouts(const PlanRequest& original) {
  LLMRT_RETURN_IF_ERROR(check_request(original));
  // Many candidates share a pipeline shape (other tp, dp or microbatch size): each shape's
  // lists are fetched and verified once.
  PlanRequest request = original;
  request.schedule_source = cached_schedule_source(original.schedule_source);
  const std::vector<int> microbatch_sizes = microbatch_size_candidates(request);
  CostCache cache;
  LLMRT_ASSIGN_OR_RETURN(auto layers, check_model(request, cache, microbatch_sizes));
  LLMRT_ASSIGN_OR_RETURN(auto degrees, enumerate_degrees(request, layers));
  const Precision precision = request.train.precision;
  PlanResult result;
  for (const Degrees& d : degrees) {
    const PlacedDegrees placed = place_and_describe(*request.topology, d, precision, request.plan.compute_efficiency,
                                                    request.plan.network_efficiency);
    for (int mbs : microbatch_sizes) {
      std::vector<Layout> candidates = enumerate_schedules(request, d, mbs, layers, result.infeasible);
      if (candidates.empty()) continue;
      const auto& costs = costs_at(request, cache, d.tp, mbs);
      if (!costs.ok() || static_cast<int>(costs->size()) != layers) {
        result.infeasible.push_back({candidates.front(), costs.ok() ? fmt::format("the layer costs at tp = {} list {} "
                                                                                  "layers, not {}", d.tp, costs->size(),
                                                                                  layers)
                                                                    : costs.error().message()});
        continue;
      }
      for (Layout& layout : candidates) {
        Evaluated evaluated = evaluate_layout(request, std::move(layout), *costs, placed);
        if (auto* planned = std::get_if<PlannedLayout>(&evaluated)) {
          result.ranked.push_back(std::move(*planned));
        } else {
          result.infeasible.push_back(std::move(std::get<InfeasibleLayout>(evaluated)));
        }
      }
    }
  }
  explain_schedule_gaps(result.ranked);
  if (request.cluster != nullptr) result.currency = request.cluster->currency;
  rank_layouts(result.ranked);
  return result;
}

}  // namespace llmrt
