#include "schedule/schedule_loader.h"

#include "plugin/component_config.h"
#include "plugin/plugin_calls.h"

namespace llmrt {

Result<VerifiedSchedule> load_verified_schedule(const Registry& registry, const std::string& name,
                                                const ScheduleShape& shape, std::string_view key_path) {
  LLMRT_ASSIGN_OR_RETURN(const Component* component,
                         registry.lookup(name, LLMRT_KIND_PIPELINE_SCHEDULE, key_path));
  LLMRT_ASSIGN_OR_RETURN(ResolvedConfig config, resolve_default_config(*component));
  LLMRT_RETURN_IF_ERROR(check_schedule_shape(*component, config, shape));
  return verify_action_lists(name, component->plugin->path, shape,
                             [&](int rank) { return schedule_actions(*component, config, shape, rank); });
}

ScheduleSource registry_schedule_source(const Registry& registry) {
  return cached_schedule_source(
      [&registry](const std::string& name, const ScheduleShape& shape) -> Result<std::shared_ptr<const VerifiedSchedule>> {
        LLMRT_ASSIGN_OR_RETURN(VerifiedSchedule schedule, load_verified_schedule(registry, name, shape, "schedule"));
        return std::make_shared<const VerifiedSchedule>(std::move(schedule));
      });
}

}  // namespace llmrt
