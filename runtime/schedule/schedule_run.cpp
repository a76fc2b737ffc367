// Runs all ranks' action lists together, without time, until every rank ends or none moves.
#include "schedule/schedule_run.h"

#include <set>

namespace llmrt {

std::vector<BlockedRank> run_action_lists(
    const ScheduleShape& shape, const std::vector<std::vector<llmrt_action>>& per_rank,
    const std::function<void(int rank, size_t index)>& visit) {
  const int ranks = static_cast<int>(per_rank.size());
  std::vector<size_t> next(ranks, 0);
  std::set<MessageKey> issued;
  // Each sweep lets every rank run until it blocks; a sweep that moves nobody is final.
  for (bool moved = true; moved;) {
    moved = false;
    for (int r = 0; r < ranks; ++r) {
      const auto& actions = per_rank[r];
      for (; next[r] < actions.size(); ++next[r]) {
        const llmrt_action& action = actions[next[r]];
        if (is_receive(action.kind) && !issued.count(message_key(shape, r, action))) break;
        if (is_send(action.kind)) issued.insert(message_key(shape, r, action));
        visit(r, next[r]);
        moved = true;
      }
    }
  }
  std::vector<BlockedRank> blocked;
  for (int r = 0; r < ranks; ++r) {
    if (next[r] < per_rank[r].size()) {
      blocked.push_back({r, next[r], message_key(shape, r, per_rank[r][next[r]])});
    }
  }
  return blocked;
}

}  // namespace llmrt
