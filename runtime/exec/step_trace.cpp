#include "exec/step_trace.h"

#include <algorithm>
#include <limits>

#include <fmt/format.h>

#include "schedule/chrome_trace.h"

namespace llmrt {
namespace {

constexpr int kFieldsPerAction = 6;  // kind, microbatch, chunk, peer, start, end

std::vector<double> encode(const std::vector<TimedAction>& actions) {
  std::vector<double> flat;
  for (const TimedAction& timed : actions) {
    flat.insert(flat.end(), {double(timed.action.kind), double(timed.action.microbatch), double(timed.action.chunk),
                             double(timed.action.peer_rank), timed.start_s, timed.end_s});
  }
  return flat;
}

std::vector<TimedAction> decode(const double* flat, int count) {
  std::vector<TimedAction> actions;
  for (int i = 0; i + kFieldsPerAction <= count; i += kFieldsPerAction) {
    const double* f = flat + i;
    actions.push_back(TimedAction{llmrt_action{int(f[0]), int(f[1]), int(f[2]), int(f[3])}, f[4], f[5]});
  }
  return actions;
}

bool is_compute(const llmrt_action& action) {
  return action.kind == LLMRT_ACTION_FORWARD || action.kind == LLMRT_ACTION_BACKWARD_INPUT ||
         action.kind == LLMRT_ACTION_BACKWARD_WEIGHT;
}

}  // namespace

SimulatedTimeline measured_timeline(std::vector<std::vector<TimedAction>> per_rank) {
  double origin = std::numeric_limits<double>::infinity();
  for (const auto& rank : per_rank) {
    for (const TimedAction& timed : rank) origin = std::min(origin, timed.start_s);
  }
  SimulatedTimeline timeline;
  double busy_total = 0;
  for (auto& rank : per_rank) {
    double busy = 0;
    for (TimedAction& timed : rank) {
      timed.start_s -= origin;
      timed.end_s -= origin;
      timeline.makespan_s = std::max(timeline.makespan_s, timed.end_s);
      if (is_compute(timed.action)) busy += timed.end_s - timed.start_s;
    }
    busy_total += busy;
    timeline.idle_fraction.push_back(busy);  // turned into a fraction below
  }
  for (double& busy : timeline.idle_fraction) busy = timeline.makespan_s > 0 ? 1 - busy / timeline.makespan_s : 0;
  const double capacity = timeline.makespan_s * static_cast<double>(per_rank.size());
  timeline.bubble_fraction = capacity > 0 ? 1 - busy_total / capacity : 0;
  timeline.per_rank = std::move(per_rank);
  return timeline;
}

// Appends the predicted tracks as further processes, numbered after the measured ranks.
void add_predicted(nlohmann::json& trace, const PredictedTrack& predicted, int first_pid) {
  nlohmann::json extra = timeline_to_chrome_trace(predicted.timeline, predicted.label);
  for (auto& event : extra["traceEvents"]) {
    event["pid"] = event["pid"].get<int>() + first_pid;
    if (event["ph"] == "M" && event["name"] == "process_name") {
      event["args"]["name"] = fmt::format("predicted pipeline rank {}", event["pid"].get<int>() - first_pid);
    }
    if (event["ph"] == "M" && event["name"] == "process_sort_index") event["args"]["sort_index"] = event["pid"];
    trace["traceEvents"].push_back(event);
  }
  trace["otherData"]["predicted_label"] = predicted.label;
  trace["otherData"]["predicted_makespan_s"] = predicted.timeline.makespan_s;
  trace["otherData"]["predicted_bubble_fraction"] = predicted.timeline.bubble_fraction;
}

Status write_step_trace(const std::vector<TimedAction>& measured, const ProcessGroups& groups, std::int64_t step,
                        const std::string& path, const PredictedTrack* predicted) {
  std::vector<double> flat = encode(measured);
  std::vector<std::vector<TimedAction>> per_rank;
  if (!groups.distributed()) {
    per_rank.push_back(measured);
  } else {
    int world = 1, rank = 0, count = static_cast<int>(flat.size());
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    std::vector<int> counts(static_cast<std::size_t>(world)), offsets(static_cast<std::size_t>(world));
    MPI_Gather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
    int total = 0;
    for (int r = 0; r < world; ++r) offsets[static_cast<std::size_t>(r)] = total, total += counts[static_cast<std::size_t>(r)];
    std::vector<double> all(static_cast<std::size_t>(std::max(total, 1)));
    MPI_Gatherv(flat.data(), count, MPI_DOUBLE, all.data(), counts.data(), offsets.data(), MPI_DOUBLE, 0,
                MPI_COMM_WORLD);
    if (rank != 0) return Status::success();
    for (int r = 0; r < world; ++r) {
      per_rank.push_back(decode(all.data() + offsets[static_cast<std::size_t>(r)], counts[static_cast<std::size_t>(r)]));
    }
  }
  const int measured_ranks = static_cast<int>(per_rank.size());
  const SimulatedTimeline timeline = measured_timeline(std::move(per_rank));
  nlohmann::json trace = timeline_to_chrome_trace(timeline, fmt::format("measured step {}", step));
  if (predicted) add_predicted(trace, *predicted, measured_ranks);
  return write_chrome_trace(path, trace);
}

}  // namespace llmrt
