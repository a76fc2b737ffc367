// The schedule simulator: every rank's list run with per-action costs, giving start and
// end times, idle fractions and the pipeline bubble.
#include "schedule/simulator.h"

#include <algorithm>
#include <map>

#include "schedule/schedule_messages.h"
#include "schedule/schedule_run.h"
#include "schedule/verifier.h"

namespace llmrt {

namespace {

// Fills idle fractions and the bubble once every action has its times.
void summarize_timeline(SimulatedTimeline& timeline, const std::vector<double>& busy_s) {
  const size_t ranks = timeline.per_rank.size();
  timeline.makespan_s = 0;
  for (const auto& actions : timeline.per_rank) {
    for (const TimedAction& timed : actions) {
      timeline.makespan_s = std::max(timeline.makespan_s, timed.end_s);
    }
  }
  timeline.idle_fraction.assign(ranks, 0.0);
  double idle_total = 0;
  for (size_t r = 0; r < ranks; ++r) {
    const double idle = timeline.makespan_s - busy_s[r];
    idle_total += idle;
    if (timeline.makespan_s > 0) timeline.idle_fraction[r] = idle / timeline.makespan_s;
  }
  const double total = timeline.makespan_s * static_cast<double>(ranks);
  timeline.bubble_fraction = total > 0 ? idle_total / total : 0.0;
}

}  // namespace

Result<SimulatedTimeline> simulate_schedule(const ScheduleShape& shape,
                                            const std::vector<std::vector<llmrt_action>>& per_rank,
                                            const ComputeCost& compute_cost,
                                            const TransferCost& transfer_cost) {
  LLMRT_RETURN_IF_ERROR_CTX(verify_schedule(shape, per_rank), "simulating pipeline schedule");
  return simulate_verified_schedule(shape, per_rank, compute_cost, transfer_cost);
}

Result<SimulatedTimeline> simulate_verified_schedule(const ScheduleShape& shape,
                                                     const std::vector<std::vector<llmrt_action>>& per_rank,
                                                     const ComputeCost& compute_cost,
                                                     const TransferCost& transfer_cost) {
  SimulatedTimeline timeline;
  timeline.per_rank.resize(per_rank.size());
  for (size_t r = 0; r < per_rank.size(); ++r) timeline.per_rank[r].resize(per_rank[r].size());
  std::vector<double> now(per_rank.size(), 0.0);     // [rank] the rank's clock
  std::vector<double> busy_s(per_rank.size(), 0.0);  // [rank] time spent computing
  std::map<MessageKey, double> arrival_s;            // sent data usable from this time

  // The run visits a send before its receive, so arrival times are known when needed;
  // each rank's clock depends only on its own actions and those arrivals.
  run_action_lists(shape, per_rank, [&](int rank, size_t index) {
    const llmrt_action& action = per_rank[rank][index];
    TimedAction& timed = timeline.per_rank[rank][index];
    timed.action = action;
    timed.start_s = now[rank];
    if (is_send(action.kind)) {
      timed.end_s = now[rank] + transfer_cost(rank, action.peer_rank, action);
      arrival_s[message_key(shape, rank, action)] = timed.end_s;
      return;
    }
    if (is_receive(action.kind)) {
      timed.end_s = std::max(now[rank], arrival_s.at(message_key(shape, rank, action)));
    } else {
      const double duration = compute_cost(rank, action);
      timed.end_s = now[rank] + duration;
      busy_s[rank] += duration;
    }
    now[rank] = timed.end_s;
  });
  summarize_timeline(timeline, busy_s);
  return timeline;
}

}  // namespace llmrt
