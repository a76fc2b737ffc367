// Shared helpers for the schedule tests: every built-in schedule by name, the shapes the
// published results cover, and whole-pipeline action lists.
#pragma once

#include <string>
#include <vector>

#include <llmrt/action.h>

#include "generators/schedule_generators.h"

namespace llmrt::test {

using ActionLists = std::vector<std::vector<llmrt_action>>;  // [rank][index]

struct BuiltinSchedule {
  std::string name;
  std::vector<llmrt_action> (*actions)(const ScheduleShape&, int rank);
  const char* (*check_shape)(const ScheduleShape&);
};

// gpipe, 1f1b, interleaved-1f1b, zb-h1.
std::vector<BuiltinSchedule> builtin_schedules();
const BuiltinSchedule& builtin_schedule(const std::string& name);

// Every rank's list of `schedule` for `shape`.
ActionLists all_rank_actions(const BuiltinSchedule& schedule, const ScheduleShape& shape);

// p in {2, 3, 4, 8} × m in {p, 2p, 8, 13} (duplicates removed), with v = 1 or, for
// `virtual_stages` > 1, only the shapes with m % p == 0.
std::vector<ScheduleShape> published_shapes(int virtual_stages);

// "p=4 m=8 v=1" for test messages.
std::string shape_text(const ScheduleShape& shape);

// Index of the first action on `actions` of `kind` (and microbatch / chunk), or -1.
int find_action(const std::vector<llmrt_action>& actions, int kind, int microbatch, int chunk);

}  // namespace llmrt::test
