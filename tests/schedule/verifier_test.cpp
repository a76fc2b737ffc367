// Hostile action lists: each kind of broken schedule is refused with an error that names
// the rank, the action's index and the action itself.
#define BOOST_TEST_MODULE schedule_verifier
#include <boost/test/unit_test.hpp>

#include <fmt/format.h>

#include "schedule/verifier.h"
#include "schedule_test_support.h"

namespace llmrt::test {
namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The verifier's error for `lists`, failing the test if they verify.
std::string verify_error(const ScheduleShape& shape, const ActionLists& lists) {
  auto report = verify_schedule(shape, lists);
  BOOST_REQUIRE_MESSAGE(!report.ok(), "a broken schedule verified");
  BOOST_TEST((report.error().kind() == ErrorKind::kInput));
  return report.error().message();
}

// "rank R, action I (<describe>)" for the action at lists[rank][index].
std::string action_ref(const ActionLists& lists, int rank, int index) {
  return fmt::format("rank {}, action {} ({})", rank, index, describe_action(lists[rank][index]));
}

BOOST_AUTO_TEST_CASE(describes_actions_with_their_peer) {
  BOOST_TEST(describe_action({LLMRT_ACTION_FORWARD, 3, 0, -1}) == "FORWARD mb 3 chunk 0");
  BOOST_TEST(describe_action({LLMRT_ACTION_RECV_GRADIENT, 3, 0, 3}) ==
             "RECV_GRADIENT mb 3 chunk 0 from rank 3");
  BOOST_TEST(describe_action({LLMRT_ACTION_SEND_ACTIVATION, 1, 2, 0}) ==
             "SEND_ACTIVATION mb 1 chunk 2 to rank 0");
  BOOST_TEST(contains(describe_action({99, 0, 0, -1}), "kind 99"));
}

BOOST_AUTO_TEST_CASE(dropped_receive_is_reported_on_both_ends) {
  const ScheduleShape shape{4, 8, 1};
  ActionLists lists = all_rank_actions(builtin_schedule("1f1b"), shape);
  const int dropped = find_action(lists[2], LLMRT_ACTION_RECV_ACTIVATION, 3, 0);
  BOOST_REQUIRE(dropped >= 0);
  lists[2].erase(lists[2].begin() + dropped);
  const std::string message = verify_error(shape, lists);
  // The forward that now sits where the receive was ran without its input ...
  BOOST_TEST(contains(message, action_ref(lists, 2, dropped) +
                                   ": forward before its activation was received"),
             message);
  // ... and rank 1's send of that activation has no receiver.
  const int send = find_action(lists[1], LLMRT_ACTION_SEND_ACTIVATION, 3, 0);
  BOOST_TEST(contains(message, action_ref(lists, 1, send) + ": never received"), message);
}

BOOST_AUTO_TEST_CASE(dropped_gradient_receive_names_the_backward) {
  const ScheduleShape shape{3, 6, 1};
  ActionLists lists = all_rank_actions(builtin_schedule("zb-h1"), shape);
  const int dropped = find_action(lists[0], LLMRT_ACTION_RECV_GRADIENT, 4, 0);
  lists[0].erase(lists[0].begin() + dropped);
  const std::string message = verify_error(shape, lists);
  BOOST_TEST(contains(message, action_ref(lists, 0, dropped) +
                                   ": input backward before its gradient was received"),
             message);
}

BOOST_AUTO_TEST_CASE(receive_without_send_is_never_sent) {
  const ScheduleShape shape{2, 2, 1};
  ActionLists lists = all_rank_actions(builtin_schedule("gpipe"), shape);
  const int dropped = find_action(lists[1], LLMRT_ACTION_SEND_GRADIENT, 1, 0);
  lists[1].erase(lists[1].begin() + dropped);
  const std::string message = verify_error(shape, lists);
  const int receive = find_action(lists[0], LLMRT_ACTION_RECV_GRADIENT, 1, 0);
  BOOST_TEST(contains(message, action_ref(lists, 0, receive) + ": never sent"), message);
  // Rank 1 also lacks the send, seen at the end of its list.
  BOOST_TEST(contains(message, "rank 1, end of list"), message);
}

BOOST_AUTO_TEST_CASE(cycle_of_receives_is_a_deadlock_naming_each_blocked_rank) {
  // Rank 1 asks for mb 0's gradient before it forwards anything: rank 2 waits for rank 1's
  // activation, rank 1 for rank 2's gradient, rank 0 for rank 1's gradient.
  const ScheduleShape shape{3, 4, 1};
  ActionLists lists = all_rank_actions(builtin_schedule("1f1b"), shape);
  const int receive = find_action(lists[1], LLMRT_ACTION_RECV_GRADIENT, 0, 0);
  const llmrt_action moved = lists[1][receive];
  lists[1].erase(lists[1].begin() + receive);
  lists[1].insert(lists[1].begin(), moved);
  const std::string message = verify_error(shape, lists);
  BOOST_TEST(contains(message, "deadlock"), message);
  const int rank2_wait = find_action(lists[2], LLMRT_ACTION_RECV_ACTIVATION, 0, 0);
  BOOST_TEST(contains(message, fmt::format("{}: waits forever for rank 2, itself blocked at "
                                           "action {} ({})",
                                           action_ref(lists, 1, 0), rank2_wait,
                                           describe_action(lists[2][rank2_wait]))),
             message);
  BOOST_TEST(contains(message, action_ref(lists, 2, rank2_wait) + ": waits forever for rank 1"),
             message);
  BOOST_TEST(contains(message, "rank 0, action"), message);
}

BOOST_AUTO_TEST_CASE(two_ranks_that_both_receive_first_deadlock) {
  // Each rank's list is fine alone; together each waits for the other's send.
  const ScheduleShape shape{2, 1, 1};
  const ActionLists lists = {{{LLMRT_ACTION_FORWARD, 0, 0, -1},
                              {LLMRT_ACTION_RECV_GRADIENT, 0, 0, 1},
                              {LLMRT_ACTION_SEND_ACTIVATION, 0, 0, 1},
                              {LLMRT_ACTION_BACKWARD_INPUT, 0, 0, -1},
                              {LLMRT_ACTION_BACKWARD_WEIGHT, 0, 0, -1}},
                             {{LLMRT_ACTION_RECV_ACTIVATION, 0, 0, 0},
                              {LLMRT_ACTION_FORWARD, 0, 0, -1},
                              {LLMRT_ACTION_BACKWARD_INPUT, 0, 0, -1},
                              {LLMRT_ACTION_SEND_GRADIENT, 0, 0, 0},
                              {LLMRT_ACTION_BACKWARD_WEIGHT, 0, 0, -1}}};
  const std::string message = verify_error(shape, lists);
  BOOST_TEST(contains(message, action_ref(lists, 0, 1) + ": waits forever for rank 1, itself "
                                                         "blocked at action 0"),
             message);
  BOOST_TEST(contains(message, action_ref(lists, 1, 0) + ": waits forever for rank 0, itself "
                                                         "blocked at action 1"),
             message);
}

BOOST_AUTO_TEST_CASE(duplicated_forward_is_refused) {
  const ScheduleShape shape{4, 8, 2};
  ActionLists lists = all_rank_actions(builtin_schedule("interleaved-1f1b"), shape);
  const int forward = find_action(lists[3], LLMRT_ACTION_FORWARD, 5, 1);
  lists[3].insert(lists[3].begin() + forward + 1, lists[3][forward]);
  const std::string message = verify_error(shape, lists);
  BOOST_TEST(
      contains(message, action_ref(lists, 3, forward + 1) + ": forward of this "
                                                            "microbatch and chunk already ran"),
      message);
}

BOOST_AUTO_TEST_CASE(wrong_peer_rank_is_refused) {
  const ScheduleShape shape{4, 8, 1};
  ActionLists lists = all_rank_actions(builtin_schedule("1f1b"), shape);
  const int send = find_action(lists[1], LLMRT_ACTION_SEND_ACTIVATION, 2, 0);
  lists[1][send].peer_rank = 3;
  const std::string message = verify_error(shape, lists);
  BOOST_TEST(contains(message, action_ref(lists, 1, send) +
                                   ": peer must be rank 2 (owner of virtual stage 2), not rank 3"),
             message);
}

BOOST_AUTO_TEST_CASE(transfers_past_the_ends_and_peers_on_compute_are_refused) {
  const ScheduleShape shape{2, 2, 1};
  ActionLists lists = all_rank_actions(builtin_schedule("1f1b"), shape);
  lists[0].insert(lists[0].begin(), {LLMRT_ACTION_RECV_ACTIVATION, 0, 0, 1});
  lists[1][find_action(lists[1], LLMRT_ACTION_FORWARD, 0, 0)].peer_rank = 0;
  const std::string message = verify_error(shape, lists);
  BOOST_TEST(contains(message,
                      "rank 0, action 0 (RECV_ACTIVATION mb 0 chunk 0 from rank 1): "
                      "virtual stage 0 is the first stage"),
             message);
  BOOST_TEST(contains(message, "compute action has peer_rank 0 (must be -1)"), message);
}

BOOST_AUTO_TEST_CASE(out_of_range_and_misordered_passes_are_refused) {
  const ScheduleShape shape{2, 3, 1};
  ActionLists bad_mb = all_rank_actions(builtin_schedule("gpipe"), shape);
  bad_mb[0].push_back({LLMRT_ACTION_FORWARD, 3, 0, -1});
  BOOST_TEST(contains(verify_error(shape, bad_mb), "microbatch 3 outside [0, 3)"));

  // W before B on the last rank.
  ActionLists w_first = all_rank_actions(builtin_schedule("1f1b"), shape);
  const int b = find_action(w_first[1], LLMRT_ACTION_BACKWARD_INPUT, 1, 0);
  std::swap(w_first[1][b], w_first[1][b + 1]);
  BOOST_TEST(contains(verify_error(shape, w_first),
                      action_ref(w_first, 1, b) + ": weight backward before its input backward"));

  // A missing W is only visible at the end of the list.
  ActionLists no_w = all_rank_actions(builtin_schedule("1f1b"), shape);
  no_w[0].erase(no_w[0].begin() + find_action(no_w[0], LLMRT_ACTION_BACKWARD_WEIGHT, 2, 0));
  BOOST_TEST(contains(verify_error(shape, no_w),
                      fmt::format("rank 0, end of list ({} actions): no BACKWARD_WEIGHT for mb 2 "
                                  "chunk 0",
                                  no_w[0].size())));
}

BOOST_AUTO_TEST_CASE(single_rank_chunks_must_run_in_stage_order) {
  // With p == 1 chunk c's input is chunk c-1's output on the same rank.
  const ScheduleShape shape{1, 2, 2};
  ActionLists lists = all_rank_actions(builtin_schedule("interleaved-1f1b"), shape);
  BOOST_REQUIRE(verify_schedule(shape, lists).ok());
  const int f0 = find_action(lists[0], LLMRT_ACTION_FORWARD, 0, 0);
  const int f1 = find_action(lists[0], LLMRT_ACTION_FORWARD, 0, 1);
  std::swap(lists[0][f0], lists[0][f1]);
  BOOST_TEST(
      contains(verify_error(shape, lists), "forward before chunk 0's forward made its input"));
}

BOOST_AUTO_TEST_CASE(wrong_number_of_lists_or_bad_shape_is_refused) {
  const ScheduleShape shape{4, 8, 1};
  ActionLists lists = all_rank_actions(builtin_schedule("1f1b"), shape);
  lists.pop_back();
  BOOST_TEST(contains(verify_error(shape, lists), "3 action lists for 4 pipeline ranks"));
  BOOST_TEST(contains(verify_error({0, 8, 1}, {}), "at least 1"));
}

}  // namespace
}  // namespace llmrt::test
