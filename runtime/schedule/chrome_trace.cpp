// Chrome trace output for pipeline timelines (format: shared/reference/formats.md §3).
#include "schedule/chrome_trace.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <unistd.h>

#include "schedule/schedule_messages.h"

namespace llmrt {

namespace {

constexpr int kComputeTid = 1;
constexpr int kReceiveTid = 2;
constexpr int kFirstSendTid = 3;
constexpr double kMicrosecondsPerSecond = 1e6;

struct EventStyle {
  const char* prefix;    // short name shown on the slice: "F3", "B3", "send A3"
  const char* category;  // Chrome trace "cat"
};

EventStyle style_of(int kind) {
  switch (kind) {
    case LLMRT_ACTION_FORWARD: return {"F", "forward"};
    case LLMRT_ACTION_BACKWARD_INPUT: return {"B", "backward_input"};
    case LLMRT_ACTION_BACKWARD_WEIGHT: return {"W", "backward_weight"};
    case LLMRT_ACTION_SEND_ACTIVATION: return {"send act ", "p2p"};
    case LLMRT_ACTION_RECV_ACTIVATION: return {"recv act ", "p2p"};
    case LLMRT_ACTION_SEND_GRADIENT: return {"send grad ", "p2p"};
    default: return {"recv grad ", "p2p"};
  }
}

nlohmann::json metadata_event(const char* name, int pid, int tid, const std::string& value) {
  return {{"name", name}, {"ph", "M"}, {"pid", pid}, {"tid", tid}, {"args", {{"name", value}}}};
}

nlohmann::json action_event(const TimedAction& timed, int rank, int tid) {
  const llmrt_action& a = timed.action;
  const EventStyle style = style_of(a.kind);
  nlohmann::json args = {{"microbatch", a.microbatch}, {"chunk", a.chunk}};
  if (a.peer_rank >= 0) args["peer_rank"] = a.peer_rank;
  return {{"name", fmt::format("{}{}.{}", style.prefix, a.microbatch, a.chunk)},
          {"cat", style.category},
          {"ph", "X"},
          {"pid", rank},
          {"tid", tid},
          {"ts", timed.start_s * kMicrosecondsPerSecond},
          {"dur", (timed.end_s - timed.start_s) * kMicrosecondsPerSecond},
          {"args", std::move(args)}};
}

// Adds one rank's events; returns how many send lanes it needed.
int add_rank_events(const std::vector<TimedAction>& actions, int rank, nlohmann::json& events) {
  std::vector<double> send_lane_free_at;  // [lane] end of the lane's last transfer
  for (const TimedAction& timed : actions) {
    int tid = is_send(timed.action.kind)      ? -1
              : is_receive(timed.action.kind) ? kReceiveTid
                                              : kComputeTid;
    if (tid < 0) {
      size_t lane = 0;
      while (lane < send_lane_free_at.size() && send_lane_free_at[lane] > timed.start_s) ++lane;
      if (lane == send_lane_free_at.size()) send_lane_free_at.push_back(0);
      send_lane_free_at[lane] = timed.end_s;
      tid = kFirstSendTid + static_cast<int>(lane);
    }
    events.push_back(action_event(timed, rank, tid));
  }
  return static_cast<int>(send_lane_free_at.size());
}

}  // namespace

nlohmann::json timeline_to_chrome_trace(const SimulatedTimeline& timeline, std::string_view label) {
  nlohmann::json events = nlohmann::json::array();
  for (size_t r = 0; r < timeline.per_rank.size(); ++r) {
    const int rank = static_cast<int>(r);
    events.push_back(metadata_event("process_name", rank, 0, fmt::format("rank {}", rank)));
    events.push_back({{"name", "process_sort_index"},
                      {"ph", "M"},
                      {"pid", rank},
                      {"tid", 0},
                      {"args", {{"sort_index", rank}}}});
    events.push_back(metadata_event("thread_name", rank, kComputeTid, "compute"));
    events.push_back(metadata_event("thread_name", rank, kReceiveTid, "receive wait"));
    const int lanes = add_rank_events(timeline.per_rank[r], rank, events);
    for (int lane = 0; lane < lanes; ++lane) {
      events.push_back(
          metadata_event("thread_name", rank, kFirstSendTid + lane, fmt::format("send {}", lane)));
    }
  }
  nlohmann::json other = {{"label", std::string(label)},
                          {"makespan_s", timeline.makespan_s},
                          {"bubble_fraction", timeline.bubble_fraction}};
  return {{"traceEvents", std::move(events)}, {"otherData", std::move(other)}};
}

Status write_chrome_trace(const std::string& path, const nlohmann::json& trace) {
  const std::string temp_path = fmt::format("{}.tmp.{}", path, static_cast<long>(::getpid()));
  {
    std::ofstream out(temp_path, std::ios::binary | std::ios::trunc);
    if (!out) {
      return runtime_error("writing Chrome trace {}: cannot open {}: {}", path, temp_path,
                           std::strerror(errno));
    }
    out << trace.dump() << '\n';
    out.close();
    if (!out) {
      std::filesystem::remove(temp_path);
      return runtime_error("writing Chrome trace {}: write to {} failed", path, temp_path);
    }
  }
  std::error_code ec;
  std::filesystem::rename(temp_path, path, ec);
  if (ec) {
    std::filesystem::remove(temp_path);
    return runtime_error("writing Chrome trace {}: renaming {} into place: {}", path, temp_path,
                         ec.message());
  }
  return Status::success();
}

}  // namespace llmrt
