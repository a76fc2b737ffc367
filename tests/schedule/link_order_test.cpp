// The message order on each pipeline link, which NCCL's per-link communicators depend on:
// every built-in schedule keeps its links in order on both ends, and a list that receives in
// another order than its peer sends (fine for MPI's tags) is named, link and message.
#define BOOST_TEST_MODULE schedule_link_order
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <set>

#include "schedule/link_order.h"
#include "schedule/verifier.h"
#include "schedule_test_support.h"

namespace llmrt::test {
namespace {

BOOST_AUTO_TEST_CASE(links_join_neighbours_in_both_directions_once) {
  BOOST_TEST(pipeline_link_pairs(1).empty());
  const auto two = pipeline_link_pairs(2);
  BOOST_TEST((two == std::vector<std::pair<int, int>>{{0, 1}, {1, 0}}));
  for (int size : {3, 4, 7, 8}) {
    const auto pairs = pipeline_link_pairs(size);
    BOOST_TEST(pairs.size() == static_cast<std::size_t>(2 * size));
    const std::set<std::pair<int, int>> distinct(pairs.begin(), pairs.end());
    BOOST_TEST(distinct.size() == pairs.size());
    for (const auto& [from, to] : pairs) {
      BOOST_TEST(((to - from + size) % size == 1 || (from - to + size) % size == 1));
    }
    BOOST_TEST(pairs.front().first == 0);  // one order, the same on every rank
  }
}

BOOST_AUTO_TEST_CASE(every_builtin_schedule_keeps_each_link_in_order) {
  int checked = 0;
  for (const BuiltinSchedule& schedule : builtin_schedules()) {
    for (int v : {1, 2}) {
      for (const ScheduleShape& shape : published_shapes(v)) {
        if (schedule.check_shape(shape) != nullptr) continue;  // a shape the schedule refuses
        const ActionLists lists = all_rank_actions(schedule, shape);
        BOOST_REQUIRE(verify_schedule(shape, lists).ok());
        BOOST_TEST_CONTEXT(schedule.name << " " << shape_text(shape)) { BOOST_TEST(link_order_mismatch(shape, lists) == ""); }
        ++checked;
      }
    }
  }
  BOOST_TEST(checked > 20);
}

// GPipe on p=2, m=3 with rank 1 receiving microbatch 1's activation before microbatch 0's:
// still a schedule (sends never block, MPI matches by tag), but not for NCCL.
BOOST_AUTO_TEST_CASE(a_receive_out_of_the_senders_order_is_named) {
  const ScheduleShape shape{2, 3, 1};
  ActionLists lists = all_rank_actions(builtin_schedule("gpipe"), shape);
  std::vector<llmrt_action>& second = lists[1];
  const int first_receive = find_action(second, LLMRT_ACTION_RECV_ACTIVATION, 0, 0);
  const int later_receive = find_action(second, LLMRT_ACTION_RECV_ACTIVATION, 1, 0);
  BOOST_REQUIRE(first_receive >= 0 && later_receive > first_receive);
  const llmrt_action moved = second[static_cast<std::size_t>(later_receive)];
  second.erase(second.begin() + later_receive);
  second.insert(second.begin() + first_receive, moved);
  BOOST_REQUIRE_MESSAGE(verify_schedule(shape, lists).ok(), "the reordered list is still a valid schedule");
  const std::string mismatch = link_order_mismatch(shape, lists);
  BOOST_TEST(mismatch ==
             "link 0 → 1, message 0: rank 0 sends SEND_ACTIVATION mb 0 chunk 0 to rank 1, rank 1 receives "
             "RECV_ACTIVATION mb 1 chunk 0 from rank 0");
  // The gradient link (1 → 0) is untouched: only the first link out of order is reported.
  BOOST_TEST(mismatch.find("1 → 0") == std::string::npos);
}

}  // namespace
}  // namespace llmrt::test
