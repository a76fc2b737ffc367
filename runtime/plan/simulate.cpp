// Simulate: one pipeline's step time and memory at the layout's microbatch count. Past a few
// rounds of p microbatches a schedule is periodic (every microbatch costs the same), so
// makespan and in-flight activations grow linearly in m: large m is simulated at two sample
// counts and extrapolated, keeping planning time independent of the global batch.
#include <algorithm>

#include "plan/planner_stages.h"

namespace llmrt {

namespace {

// The sample counts: multiples of p (interleaving needs them), past warm-up and cool-down.
std::vector<int> sample_counts(const Layout& layout) {
  const int first = layout.pp * std::max(4, (16 + layout.pp - 1) / layout.pp);
  const int second = first + 2 * layout.pp;
  if (layout.microbatches <= second) return {layout.microbatches};
  return {first, second};
}

double extrapolate(double at_first, int first, double at_second, int second, int m) {
  return at_first + (at_second - at_first) * (m - first) / static_cast<double>(second - first);
}

}  // namespace

Result<std::vector<ScheduleSample>> sample_schedule(const PlanRequest& request, const Layout& layout,
                                                    const std::vector<LayerCost>& costs) {
  std::vector<ScheduleSample> samples;
  for (int m : sample_counts(layout)) {
    ScheduleSample sample;
    sample.layout = layout;
    sample.layout.microbatches = m;
    LLMRT_ASSIGN_OR_RETURN(auto schedule,
                           request.schedule_source(layout.schedule, ScheduleShape{layout.pp, m, layout.virtual_stages}));
    sample.actions = schedule->actions;
    sample.memory = estimate_stage_memory(sample.layout, costs, sample.actions, request.train,
                                          request.plan.workspace_gib);
    samples.push_back(std::move(sample));
  }
  return samples;
}

StageMemory memory_at(const std::vector<ScheduleSample>& samples, int microbatches, double workspace_gib) {
  if (samples.size() == 1) return samples.front().memory;
  const ScheduleSample& a = samples[0];
  const ScheduleSample& b = samples[1];
  StageMemory memory = a.memory;
  for (std::size_t r = 0; r < memory.gib.size(); ++r) {
    memory.activation_bytes[r] = extrapolate(a.memory.activation_bytes[r], a.layout.microbatches,
                                             b.memory.activation_bytes[r], b.layout.microbatches, microbatches);
    memory.gib[r] = memory.bytes(r) / (1024.0 * 1024.0 * 1024.0) + workspace_gib;
  }
  return memory;
}

Result<StepTiming> time_step(const Layout& layout, const std::vector<ScheduleSample>& samples,
                             const StepCosts& step, const PlacedDegrees& placed) {
  std::vector<double> makespans;
  for (const ScheduleSample& sample : samples) {
    LLMRT_ASSIGN_OR_RETURN(auto timeline, simulate_step(sample.layout, sample.actions, step, placed));
    makespans.push_back(timeline.makespan_s);
  }
  StepTiming timing;
  timing.makespan_s = samples.size() == 1 ? makespans[0]
                                          : extrapolate(makespans[0], samples[0].layout.microbatches, makespans[1],
                                                        samples[1].layout.microbatches, layout.microbatches);
  // Busy time is exact: every microbatch runs every pass once on each rank. No rank finishes
  // before its own passes are done, a bound the linear extrapolation from two sampled microbatch
  // counts can undershoot (a negative bubble) when the step grows faster than linearly in them.
  double busy = 0, busiest = 0;
  for (const auto& chunks : step.pass_s) {
    double rank_busy = 0;
    for (const auto& passes : chunks) rank_busy += (passes[0] + passes[1] + passes[2]) * layout.microbatches;
    busy += rank_busy;
    busiest = std::max(busiest, rank_busy);
  }
  timing.makespan_s = std::max(timing.makespan_s, busiest);
  timing.bubble_fraction = timing.makespan_s > 0 ? 1 - busy / (layout.pp * timing.makespan_s) : 0;
  return timing;
}

}  // namespace llmrt
