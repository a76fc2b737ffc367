// The built-in schedules: every one verifies on every published shape, keeps the
// activation peaks its design promises, and follows the emission conventions.
#define BOOST_TEST_MODULE schedule_generators
#include <boost/test/unit_test.hpp>

#include <algorithm>

#include "schedule/schedule_messages.h"
#include "schedule/verifier.h"
#include "schedule_test_support.h"

namespace llmrt::test {
namespace {

// Every shape each schedule is published for: v = 1, and v in {2, 4} for interleaving.
std::vector<ScheduleShape> shapes_for(const BuiltinSchedule& schedule) {
  if (schedule.name != "interleaved-1f1b") return published_shapes(1);
  std::vector<ScheduleShape> shapes;
  for (int v : {1, 2, 4}) {
    for (const ScheduleShape& shape : published_shapes(v)) {
      if (shape.microbatches % shape.stages == 0) shapes.push_back(shape);
    }
  }
  return shapes;
}

Result<ScheduleReport> verify_builtin(const std::string& name, const ScheduleShape& shape) {
  return verify_schedule(shape, all_rank_actions(builtin_schedule(name), shape));
}

BOOST_AUTO_TEST_CASE(every_schedule_verifies_on_every_published_shape) {
  for (const BuiltinSchedule& schedule : builtin_schedules()) {
    for (const ScheduleShape& shape : shapes_for(schedule)) {
      BOOST_TEST_CONTEXT(schedule.name << " " << shape_text(shape)) {
        BOOST_TEST(schedule.check_shape(shape) == nullptr);
        auto report = verify_schedule(shape, all_rank_actions(schedule, shape));
        BOOST_TEST(report.ok(), (report.ok() ? "" : report.error().message()));
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(single_rank_and_tiny_shapes_verify) {
  // p == 1 hands chunks over in memory; m < p leaves ranks with only warm-up.
  for (const BuiltinSchedule& schedule : builtin_schedules()) {
    for (ScheduleShape shape :
         {ScheduleShape{1, 1, 1}, ScheduleShape{1, 5, 1}, ScheduleShape{4, 1, 1},
          ScheduleShape{8, 3, 1}, ScheduleShape{1, 3, 3}}) {
      if (schedule.check_shape(shape) != nullptr) continue;
      BOOST_TEST_CONTEXT(schedule.name << " " << shape_text(shape)) {
        auto report = verify_schedule(shape, all_rank_actions(schedule, shape));
        BOOST_TEST(report.ok(), (report.ok() ? "" : report.error().message()));
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(gpipe_holds_every_microbatch) {
  for (const ScheduleShape& shape : published_shapes(1)) {
    auto report = verify_builtin("gpipe", shape);
    BOOST_REQUIRE(report.ok());
    for (int rank = 0; rank < shape.stages; ++rank) {
      BOOST_TEST(report->peak_in_flight[rank] == shape.microbatches, shape_text(shape));
    }
  }
}

BOOST_AUTO_TEST_CASE(one_f_one_b_holds_at_most_p_minus_rank) {
  for (const ScheduleShape& shape : published_shapes(1)) {
    auto report = verify_builtin("1f1b", shape);
    BOOST_REQUIRE(report.ok());
    BOOST_TEST(report->peak_in_flight[0] == std::min(shape.stages, shape.microbatches));
    for (int rank = 0; rank < shape.stages; ++rank) {
      BOOST_TEST(report->peak_in_flight[rank] == std::min(shape.stages - rank, shape.microbatches),
                 shape_text(shape) << " rank " << rank);
    }
  }
}

BOOST_AUTO_TEST_CASE(zb_h1_keeps_one_f_one_b_activation_peaks) {
  for (const ScheduleShape& shape : published_shapes(1)) {
    auto zb = verify_builtin("zb-h1", shape);
    auto ofob = verify_builtin("1f1b", shape);
    BOOST_REQUIRE(zb.ok());
    BOOST_REQUIRE(ofob.ok());
    for (int rank = 0; rank < shape.stages; ++rank) {
      BOOST_TEST(zb->peak_in_flight[rank] <= shape.stages);
      BOOST_TEST(zb->peak_in_flight[rank] == ofob->peak_in_flight[rank], shape_text(shape)
                                                                             << " rank " << rank);
    }
  }
}

// Most microbatches a rank holds at once between their F and their W: what W still needs
// is stored activations too.
int peak_held_until_weight(const std::vector<llmrt_action>& actions) {
  int held = 0, peak = 0;
  for (const llmrt_action& a : actions) {
    if (a.kind == LLMRT_ACTION_FORWARD) peak = std::max(peak, ++held);
    if (a.kind == LLMRT_ACTION_BACKWARD_WEIGHT) --held;
  }
  return peak;
}

BOOST_AUTO_TEST_CASE(zb_h1_defers_weight_gradients_within_one_f_one_b_memory) {
  for (const ScheduleShape& shape : published_shapes(1)) {
    BOOST_TEST_CONTEXT(shape_text(shape)) {
      const ActionLists zb = all_rank_actions(builtin_schedule("zb-h1"), shape);
      const ActionLists ofob = all_rank_actions(builtin_schedule("1f1b"), shape);
      auto zb_report = verify_schedule(shape, zb);
      auto ofob_report = verify_schedule(shape, ofob);
      BOOST_REQUIRE(zb_report.ok());
      BOOST_REQUIRE(ofob_report.ok());
      int most_deferred = 0;
      for (int rank = 0; rank < shape.stages; ++rank) {
        // 1F1B runs W right after B; ZB-H1 holds no more than 1F1B's first rank does.
        BOOST_TEST(ofob_report->peak_pending_weight_grads[rank] == 1);
        BOOST_TEST(peak_held_until_weight(zb[rank]) <= peak_held_until_weight(ofob[0]));
        most_deferred = std::max(most_deferred, zb_report->peak_pending_weight_grads[rank]);
      }
      // Deferring W is the point of ZB-H1: once ranks have slack, some hold several.
      if (shape.stages > 2 && shape.microbatches >= shape.stages) BOOST_TEST(most_deferred > 1);
    }
  }
}

BOOST_AUTO_TEST_CASE(non_split_backwards_emit_b_then_w) {
  for (const std::string name : {"gpipe", "1f1b", "interleaved-1f1b"}) {
    const ScheduleShape shape{4, 8, name == "interleaved-1f1b" ? 2 : 1};
    for (const auto& actions : all_rank_actions(builtin_schedule(name), shape)) {
      for (size_t i = 0; i < actions.size(); ++i) {
        if (actions[i].kind != LLMRT_ACTION_BACKWARD_INPUT) continue;
        BOOST_REQUIRE(i + 1 < actions.size());
        BOOST_TEST(actions[i + 1].kind == LLMRT_ACTION_BACKWARD_WEIGHT, name);
        BOOST_TEST(actions[i + 1].microbatch == actions[i].microbatch);
        BOOST_TEST(actions[i + 1].chunk == actions[i].chunk);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(transfers_sit_next_to_their_compute) {
  for (const BuiltinSchedule& schedule : builtin_schedules()) {
    const ScheduleShape shape{4, 8, schedule.name == "interleaved-1f1b" ? 2 : 1};
    for (const auto& actions : all_rank_actions(schedule, shape)) {
      for (size_t i = 0; i < actions.size(); ++i) {
        const llmrt_action& a = actions[i];
        BOOST_TEST((is_compute(a.kind) ? a.peer_rank == -1 : a.peer_rank >= 0));
        // A receive feeds the next action, a send follows the pass that made its data.
        if (is_receive(a.kind)) {
          BOOST_REQUIRE(i + 1 < actions.size());
          BOOST_TEST(is_compute(actions[i + 1].kind), schedule.name << " action " << i);
        }
        if (a.kind == LLMRT_ACTION_SEND_ACTIVATION) {
          BOOST_TEST(actions[i - 1].kind == LLMRT_ACTION_FORWARD, schedule.name);
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(shape_checks_reject_what_cannot_be_built) {
  const ScheduleShape uneven{4, 6, 2};
  BOOST_TEST(check_interleaved_1f1b_shape(uneven) != nullptr);
  BOOST_TEST(interleaved_1f1b_actions(uneven, 0).empty());
  for (const char* (*check)(const ScheduleShape&) :
       {check_gpipe_shape, check_one_f_one_b_shape, check_zb_h1_shape}) {
    BOOST_TEST(check(ScheduleShape{4, 8, 2}) != nullptr);
    BOOST_TEST(check(ScheduleShape{0, 8, 1}) != nullptr);
    BOOST_TEST(check(ScheduleShape{4, 0, 1}) != nullptr);
  }
  BOOST_TEST(one_f_one_b_actions(ScheduleShape{4, 8, 1}, 4).empty());
  BOOST_TEST(gpipe_actions(ScheduleShape{4, 8, 1}, -1).empty());
}

}  // namespace
}  // namespace llmrt::test
