// How busy each link class is in one planned step: the tp all-reduces, the pipeline sends, the
// dp gradient exchange and the tied-gradient sums, each on the class of link it was costed on.
#include <algorithm>
#include <map>

#include "plan/planner_stages.h"

namespace llmrt {

namespace {

// Seconds pipeline rank `r` spends sending per step: each chunk's activation to the next virtual
// stage (none from the last) and its input gradient to the previous one (none from the first),
// every microbatch, on the link to that neighbour.
void add_pipeline_sends(const Layout& layout, const PlacedDegrees& placed, const StepCosts& step, int r,
                        std::map<LinkClass, double>& seconds) {
  const auto send = [&](int to, double bytes) {
    const auto link = placed.p2p.find({r, to});
    if (link == placed.p2p.end()) return;  // the same rank
    seconds[link->second.link_class] += (link->second.latency_s + bytes * link->second.s_per_byte) * layout.microbatches;
  };
  const int virtual_count = layout.pp * layout.virtual_stages;
  for (int c = 0; c < layout.virtual_stages; ++c) {
    const int stage = layout.virtual_stage(r, c);
    const auto rank = static_cast<std::size_t>(r), chunk = static_cast<std::size_t>(c);
    if (stage + 1 < virtual_count) send((r + 1) % layout.pp, step.output_bytes[rank][chunk]);
    if (stage > 0) send((r + layout.pp - 1) % layout.pp, step.input_grad_bytes[rank][chunk]);
  }
}

}  // namespace

std::vector<LinkBusy> estimate_link_busy(const Layout& layout, const PlacedDegrees& placed, const StepCosts& step,
                                         double step_time_s) {
  // The busiest pipeline rank's tp and pipeline traffic per class, then the step-wide exchanges.
  std::map<LinkClass, double> busiest;
  for (int r = 0; r < layout.pp; ++r) {
    std::map<LinkClass, double> seconds;
    const auto rank = static_cast<std::size_t>(r);
    if (layout.tp > 1) seconds[placed.stages[rank].tp_ring.link_class] += step.tp_allreduce_s_per_step[rank];
    if (layout.pp > 1) add_pipeline_sends(layout, placed, step, r, seconds);
    for (const auto& [link_class, s] : seconds) busiest[link_class] = std::max(busiest[link_class], s);
  }
  if (layout.dp > 1) {
    const LinkCost& ring = placed.stages[static_cast<std::size_t>(step.dp_bounding_stage)].dp_ring;
    // ZeRO 1's reduce-scatter keeps the link busy even where it hides behind the backward.
    busiest[ring.link_class] += layout.zero == 1 ? step.dp_reduce_scatter_s + step.dp_all_gather_s : step.dp_allreduce_s;
  }
  if (step.tie_allreduce_s > 0) busiest[step.tie_link_class] += step.tie_allreduce_s;
  std::vector<LinkBusy> out;
  for (const auto& [link_class, seconds] : busiest) {
    if (link_class == LinkClass::kSameDevice || seconds <= 0) continue;
    out.push_back({std::string(link_class_name(link_class)), seconds, step_time_s > 0 ? seconds / step_time_s : 0});
  }
  return out;
}

}  // namespace llmrt
