// The simulator against the schedules' closed-form bubbles (Narayanan et al. 2021, Qi et
// al. 2023) with unit pass costs, and its timing rules on costed transfers.
#define BOOST_TEST_MODULE schedule_simulator
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <map>

#include "schedule/schedule_messages.h"
#include "schedule/simulator.h"
#include "schedule_test_support.h"

namespace llmrt::test {
namespace {

constexpr double kTolerance = 1e-9;

// F, B and W each take `per_pass` seconds on every rank; transfers are free.
SimulatedTimeline simulate_uniform(const std::string& name, const ScheduleShape& shape,
                                   double per_pass) {
  auto timeline = simulate_schedule(
      shape, all_rank_actions(builtin_schedule(name), shape),
      [per_pass](int, const llmrt_action&) { return per_pass; },
      [](int, int, const llmrt_action&) { return 0.0; });
  BOOST_REQUIRE_MESSAGE(timeline.ok(), (timeline.ok() ? "" : timeline.error().message()));
  return std::move(timeline).value();
}

double idle_seconds(const SimulatedTimeline& timeline, int rank) {
  return timeline.idle_fraction[rank] * timeline.makespan_s;
}

double total_idle_seconds(const SimulatedTimeline& timeline) {
  double idle = 0;
  for (size_t r = 0; r < timeline.per_rank.size(); ++r) idle += idle_seconds(timeline, r);
  return idle;
}

BOOST_AUTO_TEST_CASE(gpipe_and_one_f_one_b_bubble_is_p_minus_1_over_m) {
  const double t_f = 1, t_b = 1, t_w = 1;
  for (const std::string name : {"gpipe", "1f1b"}) {
    for (const ScheduleShape& shape : published_shapes(1)) {
      BOOST_TEST_CONTEXT(name << " " << shape_text(shape)) {
        const int p = shape.stages, m = shape.microbatches;
        const SimulatedTimeline timeline = simulate_uniform(name, shape, 1.0);
        const double per_microbatch = t_f + t_b + t_w;
        BOOST_TEST(timeline.makespan_s == (m + p - 1) * per_microbatch,
                   boost::test_tools::tolerance(kTolerance));
        for (int rank = 0; rank < p; ++rank) {
          const double ideal = m * per_microbatch;
          BOOST_TEST(idle_seconds(timeline, rank) == (p - 1) * per_microbatch,
                     boost::test_tools::tolerance(kTolerance));
          BOOST_TEST(idle_seconds(timeline, rank) / ideal == double(p - 1) / m,
                     boost::test_tools::tolerance(kTolerance));
        }
        BOOST_TEST(timeline.bubble_fraction == double(p - 1) / (m + p - 1),
                   boost::test_tools::tolerance(kTolerance));
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(interleaved_bubble_shrinks_by_v) {
  for (int v : {2, 3, 4}) {
    for (const ScheduleShape& shape : published_shapes(v)) {
      BOOST_TEST_CONTEXT("interleaved-1f1b " << shape_text(shape)) {
        const int p = shape.stages, m = shape.microbatches;
        // Each chunk holds 1/v of the model, so each of its passes costs 1/v.
        const SimulatedTimeline timeline = simulate_uniform("interleaved-1f1b", shape, 1.0 / v);
        const double ideal = m * 3.0;  // per rank: m microbatches × (F + B + W) of the model
        for (int rank = 0; rank < p; ++rank) {
          BOOST_TEST(idle_seconds(timeline, rank) / ideal == double(p - 1) / (v * m),
                     boost::test_tools::tolerance(kTolerance));
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(zb_h1_bubble_is_p_minus_1_times_f_plus_b_minus_w) {
  const double t_f = 1, t_b = 1, t_w = 1;
  for (const ScheduleShape& shape : published_shapes(1)) {
    BOOST_TEST_CONTEXT(shape_text(shape)) {
      const int p = shape.stages, m = shape.microbatches;
      const SimulatedTimeline timeline = simulate_uniform("zb-h1", shape, 1.0);
      for (int rank = 0; rank < p; ++rank) {
        BOOST_TEST(idle_seconds(timeline, rank) == (p - 1) * (t_f + t_b - t_w),
                   boost::test_tools::tolerance(kTolerance));
      }
      BOOST_TEST(timeline.makespan_s == m * (t_f + t_b + t_w) + (p - 1) * (t_f + t_b - t_w),
                 boost::test_tools::tolerance(kTolerance));
    }
  }
}

BOOST_AUTO_TEST_CASE(zb_h1_bubble_is_about_a_third_of_one_f_one_b) {
  for (const ScheduleShape& shape : published_shapes(1)) {
    if (shape.microbatches < 2 * shape.stages) continue;
    BOOST_TEST_CONTEXT(shape_text(shape)) {
      const double zb = total_idle_seconds(simulate_uniform("zb-h1", shape, 1.0));
      const double ofob = total_idle_seconds(simulate_uniform("1f1b", shape, 1.0));
      BOOST_TEST(zb > 0);
      BOOST_TEST(zb <= 0.4 * ofob);
    }
  }
}

BOOST_AUTO_TEST_CASE(zb_h1_never_slower_than_one_f_one_b) {
  for (const ScheduleShape& shape : published_shapes(1)) {
    BOOST_TEST_CONTEXT(shape_text(shape)) {
      BOOST_TEST(simulate_uniform("zb-h1", shape, 1.0).makespan_s <=
                 simulate_uniform("1f1b", shape, 1.0).makespan_s + kTolerance);
    }
  }
}

// Rules every timeline must keep, whatever the costs: passes on a rank do not overlap and
// last their cost; a receive ends no earlier than its send's arrival.
void check_timing_rules(const ScheduleShape& shape, const SimulatedTimeline& timeline,
                        const ComputeCost& compute_cost, const TransferCost& transfer_cost) {
  std::map<MessageKey, double> arrival;
  for (int rank = 0; rank < shape.stages; ++rank) {
    for (const TimedAction& timed : timeline.per_rank[rank]) {
      if (is_send(timed.action.kind)) {
        arrival[message_key(shape, rank, timed.action)] = timed.end_s;
        BOOST_TEST(timed.end_s - timed.start_s ==
                       transfer_cost(rank, timed.action.peer_rank, timed.action),
                   boost::test_tools::tolerance(kTolerance));
      }
    }
  }
  for (int rank = 0; rank < shape.stages; ++rank) {
    double clock = 0;
    for (const TimedAction& timed : timeline.per_rank[rank]) {
      BOOST_TEST(timed.start_s >= clock - kTolerance);
      if (is_send(timed.action.kind)) continue;
      if (is_receive(timed.action.kind)) {
        BOOST_TEST(timed.end_s >= arrival.at(message_key(shape, rank, timed.action)) - kTolerance);
      } else {
        BOOST_TEST(timed.end_s - timed.start_s == compute_cost(rank, timed.action),
                   boost::test_tools::tolerance(kTolerance));
      }
      clock = timed.end_s;
    }
    BOOST_TEST(clock <= timeline.makespan_s + kTolerance);
  }
}

BOOST_AUTO_TEST_CASE(costed_transfers_and_uneven_ranks_keep_the_timing_rules) {
  // Slower later ranks, B twice F, W half F, and a transfer that costs more across ranks 1-2.
  const ComputeCost compute = [](int rank, const llmrt_action& a) {
    const double scale = 1.0 + 0.25 * rank;
    if (a.kind == LLMRT_ACTION_FORWARD) return 1.0 * scale;
    return (a.kind == LLMRT_ACTION_BACKWARD_INPUT ? 2.0 : 0.5) * scale;
  };
  const TransferCost transfer = [](int from, int to, const llmrt_action&) {
    return std::min(from, to) == 1 ? 0.7 : 0.1;
  };
  for (const BuiltinSchedule& schedule : builtin_schedules()) {
    const ScheduleShape shape{4, 8, schedule.name == "interleaved-1f1b" ? 2 : 1};
    BOOST_TEST_CONTEXT(schedule.name) {
      auto timeline =
          simulate_schedule(shape, all_rank_actions(schedule, shape), compute, transfer);
      BOOST_REQUIRE(timeline.ok());
      check_timing_rules(shape, *timeline, compute, transfer);
    }
  }
}

BOOST_AUTO_TEST_CASE(transfer_time_adds_to_each_hop_of_a_single_microbatch) {
  // One microbatch through p stages: nothing overlaps, so the step is the sum of all
  // passes plus one transfer per hop each way.
  const int p = 5;
  const double t_f = 1.0, t_b = 2.0, t_w = 0.5, hop = 0.3;
  const ScheduleShape shape{p, 1, 1};
  auto timeline = simulate_schedule(
      shape, all_rank_actions(builtin_schedule("1f1b"), shape),
      [&](int, const llmrt_action& a) {
        return a.kind == LLMRT_ACTION_FORWARD          ? t_f
               : a.kind == LLMRT_ACTION_BACKWARD_INPUT ? t_b
                                                       : t_w;
      },
      [&](int, int, const llmrt_action&) { return hop; });
  BOOST_REQUIRE(timeline.ok());
  BOOST_TEST(timeline->makespan_s == p * (t_f + t_b + t_w) + 2 * (p - 1) * hop,
             boost::test_tools::tolerance(kTolerance));
}

BOOST_AUTO_TEST_CASE(invalid_lists_are_refused_with_the_verifier_error) {
  const ScheduleShape shape{3, 6, 1};
  ActionLists lists = all_rank_actions(builtin_schedule("1f1b"), shape);
  lists[1].erase(lists[1].begin() + find_action(lists[1], LLMRT_ACTION_RECV_ACTIVATION, 2, 0));
  auto timeline = simulate_schedule(
      shape, lists, [](int, const llmrt_action&) { return 1.0; },
      [](int, int, const llmrt_action&) { return 0.0; });
  BOOST_REQUIRE(!timeline.ok());
  BOOST_TEST((timeline.error().kind() == ErrorKind::kInput));
  BOOST_TEST(timeline.error().message().find("simulating pipeline schedule") != std::string::npos);
  BOOST_TEST(timeline.error().message().find("rank 1, action") != std::string::npos);
}

}  // namespace
}  // namespace llmrt::test
