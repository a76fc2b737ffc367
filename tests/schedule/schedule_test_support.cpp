// Shared helpers for the schedule tests.
#include "schedule_test_support.h"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

namespace llmrt::test {

std::vector<BuiltinSchedule> builtin_schedules() {
  return {{"gpipe", gpipe_actions, check_gpipe_shape},
          {"1f1b", one_f_one_b_actions, check_one_f_one_b_shape},
          {"interleaved-1f1b", interleaved_1f1b_actions, check_interleaved_1f1b_shape},
          {"zb-h1", zb_h1_actions, check_zb_h1_shape}};
}

const BuiltinSchedule& builtin_schedule(const std::string& name) {
  static const std::vector<BuiltinSchedule> schedules = builtin_schedules();
  for (const auto& schedule : schedules) {
    if (schedule.name == name) return schedule;
  }
  throw std::invalid_argument("no built-in schedule " + name);
}

ActionLists all_rank_actions(const BuiltinSchedule& schedule, const ScheduleShape& shape) {
  ActionLists lists;
  for (int rank = 0; rank < shape.stages; ++rank) lists.push_back(schedule.actions(shape, rank));
  return lists;
}

std::vector<ScheduleShape> published_shapes(int virtual_stages) {
  std::vector<ScheduleShape> shapes;
  for (int p : {2, 3, 4, 8}) {
    std::vector<int> ms = {p, 2 * p, 8, 13};
    std::sort(ms.begin(), ms.end());
    ms.erase(std::unique(ms.begin(), ms.end()), ms.end());
    for (int m : ms) {
      if (virtual_stages > 1 && m % p != 0) continue;
      shapes.push_back({p, m, virtual_stages});
    }
  }
  return shapes;
}

std::string shape_text(const ScheduleShape& shape) {
  return fmt::format("p={} m={} v={}", shape.stages, shape.microbatches, shape.virtual_stages);
}

int find_action(const std::vector<llmrt_action>& actions, int kind, int microbatch, int chunk) {
  for (size_t i = 0; i < actions.size(); ++i) {
    const llmrt_action& a = actions[i];
    if (a.kind == kind && a.microbatch == microbatch && a.chunk == chunk) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

}  // namespace llmrt::test
