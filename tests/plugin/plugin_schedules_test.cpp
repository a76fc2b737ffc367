// The built-in pipeline schedules as plugins: found in the built-in directory, registered as
// pipeline schedules, and returning exactly what their generators return.
#define BOOST_TEST_MODULE plugin_schedules
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include <llmrt/schedule_shape.hpp>

#include "generators/schedule_generators.h"
#include "plugin/plugin_calls.h"
#include "plugin/plugin_search.h"

using namespace llmrt;

namespace {

Registry load_builtin() {
  PluginSearchOptions options;
  options.environment_path = "";
  auto registry = load_plugins(options);
  BOOST_REQUIRE_MESSAGE(registry.ok(), (registry.ok() ? "" : registry.error().message()));
  return std::move(*registry);
}

bool same_actions(const std::vector<llmrt_action>& a, const std::vector<llmrt_action>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].kind != b[i].kind || a[i].microbatch != b[i].microbatch || a[i].chunk != b[i].chunk ||
        a[i].peer_rank != b[i].peer_rank) {
      return false;
    }
  }
  return true;
}

}  // namespace

BOOST_AUTO_TEST_CASE(plugins_match_their_generators) {
  Registry registry = load_builtin();
  using Generator = std::vector<llmrt_action> (*)(const ScheduleShape&, int);
  const std::vector<std::pair<std::string, Generator>> schedules = {
      {"gpipe", &gpipe_actions}, {"1f1b", &one_f_one_b_actions},
      {"interleaved-1f1b", &interleaved_1f1b_actions}, {"zb-h1", &zb_h1_actions}};
  const std::vector<ScheduleShape> shapes = {{1, 1, 1}, {2, 4, 1}, {3, 7, 1}, {4, 8, 2}, {2, 6, 3}};
  for (const auto& [name, generate] : schedules) {
    auto component = registry.lookup(name, LLMRT_KIND_PIPELINE_SCHEDULE, "parallel.schedule");
    BOOST_REQUIRE_MESSAGE(component.ok(), (component.ok() ? "" : component.error().message()));
    auto config = resolve_default_config(**component);
    BOOST_REQUIRE(config.ok());
    int compared = 0;
    for (const ScheduleShape& shape : shapes) {
      const llmrt_schedule_shape& c_shape = shape;  // a ScheduleShape is the ABI struct
      if (!check_schedule_shape(**component, *config, c_shape).ok()) continue;
      for (int rank = 0; rank < shape.stages; ++rank) {
        auto actions = schedule_actions(**component, *config, c_shape, rank);
        BOOST_REQUIRE_MESSAGE(actions.ok(), (actions.ok() ? "" : actions.error().message()));
        BOOST_TEST(!actions->empty());
        BOOST_TEST(same_actions(*actions, generate(shape, rank)), name << " rank " << rank);
        ++compared;
      }
    }
    BOOST_TEST(compared > 0, name << " accepted no shape");
  }
}

BOOST_AUTO_TEST_CASE(rejected_shape_carries_the_generators_reason) {
  Registry registry = load_builtin();
  const Component* interleaved = registry.find("interleaved-1f1b");
  BOOST_REQUIRE(interleaved != nullptr);
  auto config = resolve_default_config(*interleaved);
  BOOST_REQUIRE(config.ok());
  const ScheduleShape bad{4, 6, 2};  // 6 microbatches do not split into groups of 4 stages
  const char* reason = check_interleaved_1f1b_shape(bad);
  BOOST_REQUIRE(reason != nullptr);
  const llmrt_schedule_shape& c_shape = bad;
  Status status = check_schedule_shape(*interleaved, *config, c_shape);
  BOOST_REQUIRE(!status.ok());
  BOOST_TEST(status.error().message().find(reason) != std::string::npos, status.error().message());
  BOOST_TEST(static_cast<int>(status.error().kind()) == static_cast<int>(ErrorKind::kInput));
  auto actions = schedule_actions(*interleaved, *config, c_shape, 0);
  BOOST_REQUIRE(!actions.ok());
  BOOST_TEST(actions.error().message().find(reason) != std::string::npos);

  const Component* gpipe = registry.find("gpipe");
  auto outside = schedule_actions(*gpipe, *config, ScheduleShape(2, 2, 1), 5);
  BOOST_REQUIRE(!outside.ok());
  BOOST_TEST(outside.error().message().find("rank 5 is outside") != std::string::npos);
}
