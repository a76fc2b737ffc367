// VerifiedSchedule: every rank's list fetched and proved together, errors that name the
// schedule and shape, and the cache the planner asks for the same shape through.
#define BOOST_TEST_MODULE schedule_verified
#include <boost/test/unit_test.hpp>

#include "schedule/verified_schedule.h"
#include "schedule_test_support.h"

namespace llmrt::test {
namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

RankActionsFn generator_ranks(const BuiltinSchedule& schedule, const ScheduleShape& shape) {
  return [&schedule, shape](int rank) -> Result<std::vector<llmrt_action>> { return schedule.actions(shape, rank); };
}

BOOST_AUTO_TEST_CASE(holds_every_ranks_list_and_the_report) {
  const ScheduleShape shape{3, 5, 1};
  const BuiltinSchedule& one_f_one_b = builtin_schedule("1f1b");
  auto verified = verify_action_lists("1f1b", "", shape, generator_ranks(one_f_one_b, shape));
  BOOST_REQUIRE_MESSAGE(verified.ok(), (verified.ok() ? "" : verified.error().message()));
  BOOST_TEST(verified->name == "1f1b");
  BOOST_TEST(verified->shape.struct_size == sizeof(llmrt_schedule_shape));  // ready for a plugin call
  BOOST_REQUIRE_EQUAL(verified->actions.size(), 3u);
  for (int r = 0; r < 3; ++r) {
    BOOST_TEST(verified->actions[r].size() == one_f_one_b.actions(shape, r).size());
    BOOST_TEST(verified->report.peak_in_flight[r] == 3 - r);  // 1F1B: min(p - rank, m)
  }
}

BOOST_AUTO_TEST_CASE(a_broken_list_names_the_schedule_its_origin_and_shape) {
  const ScheduleShape shape{2, 2, 1};
  const BuiltinSchedule& gpipe = builtin_schedule("gpipe");
  auto broken = verify_action_lists("test.broken", "/plugins/broken.so", shape, [&](int rank) {
    std::vector<llmrt_action> list = gpipe.actions(shape, rank);
    if (rank == 1) list.erase(list.begin());  // the first receive of rank 1 is gone
    return Result<std::vector<llmrt_action>>(std::move(list));
  });
  BOOST_REQUIRE(!broken.ok());
  const std::string message = broken.error().message();
  BOOST_TEST(contains(message, "schedule 'test.broken' (/plugins/broken.so) for 2 stages × 2 microbatches × 1 "
                               "virtual stages"), message);
  auto refused = verify_action_lists("test.refusing", "", shape, [](int rank) -> Result<std::vector<llmrt_action>> {
    return input_error("rank {} refused", rank);
  });
  BOOST_REQUIRE(!refused.ok());
  BOOST_TEST(refused.error().message() == "rank 0 refused");
}

BOOST_AUTO_TEST_CASE(the_cache_loads_each_shape_once_and_keeps_errors) {
  int loads = 0;
  ScheduleSource source = cached_schedule_source(
      [&loads](const std::string& name, const ScheduleShape& shape) -> Result<std::shared_ptr<const VerifiedSchedule>> {
        ++loads;
        if (name != "1f1b") return input_error("no schedule named {}", name);
        const BuiltinSchedule& schedule = builtin_schedule(name);
        auto verified = verify_action_lists(name, "", shape, generator_ranks(schedule, shape));
        if (!verified.ok()) return verified.error();
        return std::make_shared<const VerifiedSchedule>(std::move(*verified));
      });
  auto first = source("1f1b", ScheduleShape{4, 8, 1});
  auto again = source("1f1b", ScheduleShape{4, 8, 1});
  BOOST_REQUIRE(first.ok());
  BOOST_REQUIRE(again.ok());
  BOOST_TEST(first->get() == again->get());  // the same verified lists, not a copy
  BOOST_TEST(loads == 1);
  BOOST_TEST(source("1f1b", ScheduleShape{4, 12, 1}).ok());
  BOOST_TEST(loads == 2);
  BOOST_TEST(!source("nope", ScheduleShape{4, 8, 1}).ok());
  BOOST_TEST(!source("nope", ScheduleShape{4, 8, 1}).ok());
  BOOST_TEST(loads == 3);
}

}  // namespace
}  // namespace llmrt::test
