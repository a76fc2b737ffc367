#include "schedule/verified_schedule.h"

#include <map>
#include <mutex>
#include <tuple>

#include <fmt/format.h>

namespace llmrt {

Result<VerifiedSchedule> verify_action_lists(const std::string& name, const std::string& origin,
                                             const ScheduleShape& shape, const RankActionsFn& rank_actions) {
  VerifiedSchedule schedule{name, origin, shape, {}, {}};
  for (int rank = 0; rank < shape.stages; ++rank) {
    LLMRT_ASSIGN_OR_RETURN(std::vector<llmrt_action> list, rank_actions(rank));
    schedule.actions.push_back(std::move(list));
  }
  LLMRT_ASSIGN_OR_RETURN_CTX(schedule.report, verify_schedule(shape, schedule.actions),
                             "schedule '{}'{} for {} stages × {} microbatches × {} virtual stages", name,
                             origin.empty() ? "" : fmt::format(" ({})", origin), shape.stages, shape.microbatches,
                             shape.virtual_stages);
  return schedule;
}

ScheduleSource cached_schedule_source(ScheduleSource load) {
  using Key = std::tuple<std::string, int, int, int>;
  struct Cache {
    std::mutex mutex;
    std::map<Key, Result<std::shared_ptr<const VerifiedSchedule>>> entries;
  };
  auto cache = std::make_shared<Cache>();
  return [cache, load = std::move(load)](const std::string& name,
                                         const ScheduleShape& shape) -> Result<std::shared_ptr<const VerifiedSchedule>> {
    std::lock_guard<std::mutex> lock(cache->mutex);
    const Key key{name, shape.stages, shape.microbatches, shape.virtual_stages};
    auto found = cache->entries.find(key);
    if (found == cache->entries.end()) found = cache->entries.emplace(key, load(name, shape)).first;
    return found->second;
  };
}

}  // namespace llmrt
