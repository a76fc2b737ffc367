// Chrome trace output: a simulated timeline written to disk parses back with one complete
// event per action, rank metadata, and properly nested tracks.
#define BOOST_TEST_MODULE schedule_chrome_trace
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "schedule/chrome_trace.h"
#include "schedule_test_support.h"
#include "support/process.h"

namespace llmrt::test {
namespace {

SimulatedTimeline simulate_for_trace(const std::string& name, const ScheduleShape& shape) {
  auto timeline = simulate_schedule(
      shape, all_rank_actions(builtin_schedule(name), shape),
      [](int rank, const llmrt_action& a) {
        return a.kind == LLMRT_ACTION_FORWARD ? 1e-3 : 1.5e-3 + 1e-4 * rank;
      },
      [](int, int, const llmrt_action&) { return 4e-4; });
  BOOST_REQUIRE(timeline.ok());
  return std::move(timeline).value();
}

nlohmann::json write_and_read_back(const nlohmann::json& trace, const TempDir& dir) {
  const std::string path = dir.path() + "/step.trace.json";
  Status written = write_chrome_trace(path, trace);
  BOOST_REQUIRE_MESSAGE(written.ok(), (written.ok() ? "" : written.error().message()));
  std::ifstream in(path);
  BOOST_REQUIRE(in.good());
  return nlohmann::json::parse(in);
}

BOOST_AUTO_TEST_CASE(one_complete_event_per_action_with_rank_metadata) {
  TempDir dir("schedule_chrome_trace");
  for (const BuiltinSchedule& schedule : builtin_schedules()) {
    const ScheduleShape shape{4, 8, schedule.name == "interleaved-1f1b" ? 2 : 1};
    BOOST_TEST_CONTEXT(schedule.name) {
      const SimulatedTimeline timeline = simulate_for_trace(schedule.name, shape);
      const nlohmann::json parsed =
          write_and_read_back(timeline_to_chrome_trace(timeline, schedule.name), dir);
      BOOST_TEST(parsed["otherData"]["label"] == schedule.name);

      size_t actions = 0;
      for (const auto& per_rank : timeline.per_rank) actions += per_rank.size();
      size_t complete_events = 0;
      std::set<int> named_ranks;
      for (const auto& event : parsed.at("traceEvents")) {
        const std::string phase = event.at("ph");
        BOOST_TEST((phase == "X" || phase == "M"));
        if (phase == "M") {
          if (event.at("name") == "process_name") {
            const int pid = event.at("pid");
            BOOST_TEST(event.at("args").at("name") == "rank " + std::to_string(pid));
            named_ranks.insert(pid);
          }
          continue;
        }
        ++complete_events;
        BOOST_TEST(event.at("ts").get<double>() >= 0.0);
        BOOST_TEST(event.at("dur").get<double>() >= 0.0);
        BOOST_TEST(event.at("pid").get<int>() >= 0);
        BOOST_TEST(event.at("pid").get<int>() < shape.stages);
      }
      BOOST_TEST(complete_events == actions);
      BOOST_TEST(named_ranks.size() == static_cast<size_t>(shape.stages));
    }
  }
}

BOOST_AUTO_TEST_CASE(events_on_one_track_do_not_overlap) {
  // Perfetto moves overlapping slices on one (pid, tid) to an overflow track.
  const SimulatedTimeline timeline = simulate_for_trace("zb-h1", {4, 12, 1});
  const nlohmann::json trace = timeline_to_chrome_trace(timeline, "zb-h1");
  std::map<std::pair<int, int>, std::vector<std::pair<double, double>>> tracks;
  for (const auto& event : trace.at("traceEvents")) {
    if (event.at("ph") != "X") continue;
    const double ts = event.at("ts"), dur = event.at("dur");
    tracks[{event.at("pid"), event.at("tid")}].push_back({ts, ts + dur});
  }
  for (auto& [track, slices] : tracks) {
    std::sort(slices.begin(), slices.end());
    for (size_t i = 1; i < slices.size(); ++i) {
      BOOST_TEST(slices[i].first >= slices[i - 1].second - 1e-6,
                 "pid " << track.first << " tid " << track.second);
    }
  }
}

BOOST_AUTO_TEST_CASE(timestamps_are_microseconds) {
  const SimulatedTimeline timeline = simulate_for_trace("gpipe", {2, 2, 1});
  const nlohmann::json trace = timeline_to_chrome_trace(timeline, "gpipe");
  double last_end_us = 0;
  for (const auto& event : trace.at("traceEvents")) {
    if (event.at("ph") != "X") continue;
    last_end_us =
        std::max(last_end_us, event.at("ts").get<double>() + event.at("dur").get<double>());
  }
  BOOST_TEST(last_end_us == timeline.makespan_s * 1e6, boost::test_tools::tolerance(1e-9));
}

BOOST_AUTO_TEST_CASE(unwritable_path_is_an_error_naming_it) {
  const std::string path = "/nonexistent-llmrt-dir/trace.json";
  Status written = write_chrome_trace(path, nlohmann::json::object());
  BOOST_REQUIRE(!written.ok());
  BOOST_TEST(written.error().message().find(path) != std::string::npos);
}

}  // namespace
}  // namespace llmrt::test
