// Memory savers: the activation recompute mode and the ZeRO stage of one layout. Fixed values
// ([train].recompute, [parallel].zero) are honoured; "auto" tries none/0 (and zero 1, which may be
// faster) first and only where nothing fits the savers that cost time, selective recompute then
// full; the fastest option of the first group that fits wins (docs/planner.md, "Memory savers").
#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "plan/planner_stages.h"

namespace llmrt {

namespace {

constexpr double kGib = 1024.0 * 1024.0 * 1024.0;

bool changes_a_layer(const std::vector<LayerCost>& costs, Recompute mode) {
  return std::any_of(costs.begin(), costs.end(), [&](const LayerCost& cost) {
    return effective_recompute(cost, mode) != effective_recompute(cost, Recompute::kNone);
  });
}

double max_of(const std::vector<double>& values) {
  return values.empty() ? 0.0 : *std::max_element(values.begin(), values.end());
}

std::string saver_label(const Layout& layout) {
  std::vector<std::string> parts;
  if (layout.recompute != Recompute::kNone) parts.push_back(fmt::format("{} recompute", recompute_name(layout.recompute)));
  if (layout.zero == 1) parts.emplace_back("zero 1");
  if (parts.empty()) return "no recompute and zero 0";
  return parts.size() == 1 ? parts[0] : parts[0] + " and " + parts[1];
}

std::string signed_percent(double ratio) {
  const double percent = (ratio - 1) * 100;
  return fmt::format("{}{:.{}f} %", percent < 0 ? "−" : "+", std::fabs(percent), std::fabs(percent) < 10 ? 1 : 0);
}

}  // namespace

std::vector<std::vector<SaverOption>> saver_groups(const PlanRequest& request, const Layout& layout,
                                                   const std::vector<LayerCost>& costs) {
  std::vector<int> zeros;
  if (request.parallel.zero.value) {
    zeros = {*request.parallel.zero.value};
  } else {
    zeros = layout.dp > 1 ? std::vector<int>{0, 1} : std::vector<int>{0};
  }
  std::vector<Recompute> modes;
  if (request.train.recompute.value != Recompute::kAuto) {
    modes = {request.train.recompute.value};
  } else {
    modes = {Recompute::kNone};
    for (Recompute mode : {Recompute::kSelective, Recompute::kFull}) {
      if (changes_a_layer(costs, mode)) modes.push_back(mode);
    }
  }
  std::vector<std::vector<SaverOption>> groups;
  for (Recompute mode : modes) {
    std::vector<SaverOption> group;
    for (int zero : zeros) group.push_back({mode, zero});
    groups.push_back(std::move(group));
  }
  return groups;
}

SaverTry try_savers(const PlanRequest& request, Layout layout, SaverOption option,
                    const std::vector<ScheduleSample>& samples, const std::vector<LayerCost>& costs,
                    const PlacedDegrees& placed, const SaverTry* same_pipeline, bool time_if_short) {
  layout.recompute = option.recompute;
  layout.zero = option.zero;
  std::vector<ScheduleSample> sized;
  for (const ScheduleSample& sample : samples) {
    ScheduleSample copy;
    copy.layout = sample.layout;
    copy.layout.recompute = option.recompute;
    copy.layout.zero = option.zero;
    copy.memory = estimate_stage_memory(copy.layout, costs, sample.actions, request.train, request.plan.workspace_gib);
    sized.push_back(std::move(copy));
  }
  SaverTry out;
  out.memory = memory_at(sized, layout.microbatches, request.plan.workspace_gib);
  out.shortfall = memory_shortfall(out.memory, placed.stages);
  if (!out.shortfall.empty() && !time_if_short) {  // not timed: most layouts that do not fit stay so
    out.layout = std::move(layout);
    return out;
  }
  out.step = estimate_step_costs(layout, costs, placed, out.memory, request.train);
  estimate_tie_allreduce(layout, costs, placed, *request.topology, request.train, request.plan.network_efficiency,
                         out.step);
  // The zero stage changes only the step's tail: an option with the same recompute mode has
  // the same pipeline, simulated once.
  if (same_pipeline != nullptr && same_pipeline->timed && same_pipeline->layout.recompute == option.recompute) {
    out.timing = same_pipeline->timing;
  } else {
    auto timing = time_step(layout, samples, out.step, placed);
    if (!timing.ok()) {
      out.error = timing.error().message();
      out.layout = std::move(layout);
      return out;
    }
    out.timing = *timing;
  }
  out.step_time_s = out.timing.makespan_s + out.step.dp_allreduce_s + out.step.tie_allreduce_s + out.step.optimizer_s;
  out.timed = true;
  out.layout = std::move(layout);
  return out;
}

std::string saver_reason(const SaverTry& chosen, const SaverTry& baseline) {
  const Layout& l = chosen.layout;
  if (l.recompute == baseline.layout.recompute && l.zero == baseline.layout.zero) return "";
  const std::string where = fmt::format("pp{}·tp{}·dp{}", l.pp, l.tp, l.dp);
  const double time = chosen.step_time_s / baseline.step_time_s;
  const double activations = max_of(chosen.memory.activation_bytes) / std::max(max_of(baseline.memory.activation_bytes), 1.0);
  const double state_gib = (max_of(baseline.memory.state_bytes) - max_of(chosen.memory.state_bytes)) / kGib;
  std::vector<std::string> effects{fmt::format("{} step time", signed_percent(time))};
  if (l.recompute != Recompute::kNone) effects.push_back(fmt::format("{} activation memory", signed_percent(activations)));
  if (l.zero == 1) effects.push_back(fmt::format("−{:.1f} GiB of optimizer state per rank", state_gib));
  const std::string what = fmt::format("{}: {}", saver_label(l), fmt::join(effects, ", "));
  if (!baseline.shortfall.empty()) {
    return fmt::format("{} fits only with {} (without: {})", where, what, baseline.shortfall);
  }
  return fmt::format("{} runs faster with {}", where, what);
}

// Within a group, an option after the first that fits must be this much faster to be chosen: a
// saver the layout does not need earns its place by a gain larger than the model's noise (ZeRO-1
// on a small model predicts < 1 %), not by a rounding difference.
constexpr double kMinSaverGain = 0.02;

SaverChoice choose_savers(const PlanRequest& request, const Layout& layout, const std::vector<ScheduleSample>& samples,
                          const std::vector<LayerCost>& costs, const PlacedDegrees& placed, bool first_that_fits) {
  const std::vector<std::vector<SaverOption>> groups = saver_groups(request, layout, costs);
  SaverChoice choice;
  choice.baseline = try_savers(request, layout, groups.front().front(), samples, costs, placed);
  const SaverTry* last = &choice.baseline;
  // `last` and `best` point into `tries`: room for every option up front, so no push_back moves them.
  std::size_t options = 0;
  for (const auto& group : groups) options += group.size();
  std::vector<SaverTry> tries;
  tries.reserve(options);
  for (const auto& group : groups) {
    const SaverTry* best = nullptr;
    for (const SaverOption& option : group) {
      const bool is_baseline = &group == &groups.front() && &option == &group.front();
      if (!is_baseline) tries.push_back(try_savers(request, layout, option, samples, costs, placed, last));
      const SaverTry& tried = is_baseline ? choice.baseline : tries.back();
      last = &tried;
      if (!tried.shortfall.empty() || !tried.error.empty()) continue;
      if (best == nullptr || tried.step_time_s < best->step_time_s * (1 - kMinSaverGain)) best = &tried;
      if (first_that_fits) break;
    }
    if (best != nullptr) {
      choice.chosen = *best;
      if (!choice.baseline.timed) {  // the comparison needs the step without savers too
        choice.baseline = try_savers(request, layout, groups.front().front(), samples, costs, placed, nullptr, true);
      }
      choice.chosen->reason = saver_reason(*choice.chosen, choice.baseline);
      return choice;
    }
  }
  const std::string why = last->error.empty() ? last->shortfall : last->error;
  choice.infeasible_reason = last == &choice.baseline ? why : fmt::format("{}, even with {}", why, saver_label(last->layout));
  return choice;
}

}  // namespace llmrt
