// The registry and its transactional registrar: a plugin's components are staged while its
// registration runs and become visible only if all of it succeeded.
#include "plugin/registry.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <optional>

#include "plugin/component_checks.h"
#include "plugin/host_api.h"
#include "util/strings.h"

namespace llmrt {

std::size_t host_vtable_size(llmrt_component_kind kind) {
  switch (kind) {
    case LLMRT_KIND_LAYER: return sizeof(llmrt_layer_vtable);
    case LLMRT_KIND_OPTIMIZER: return sizeof(llmrt_optimizer_vtable);
    case LLMRT_KIND_LR_SCHEDULE: return sizeof(llmrt_lr_schedule_vtable);
    case LLMRT_KIND_PIPELINE_SCHEDULE: return sizeof(llmrt_pipeline_schedule_vtable);
  }
  return 0;
}

ComponentVtable copy_vtable(llmrt_component_kind kind, const void* plugin_vtable) {
  ComponentVtable copy;
  std::memset(&copy, 0, sizeof(copy));
  const std::size_t host_size = host_vtable_size(kind);
  const std::size_t plugin_size = *static_cast<const std::size_t*>(plugin_vtable);
  std::memcpy(&copy, plugin_vtable, std::min(plugin_size, host_size));
  std::memcpy(&copy, &host_size, sizeof(host_size));  // every table's first field: struct_size
  return copy;
}

const llmrt_layer_vtable& Component::layer() const {
  assert(kind == LLMRT_KIND_LAYER);
  return vtable.layer;
}
const llmrt_optimizer_vtable& Component::optimizer() const {
  assert(kind == LLMRT_KIND_OPTIMIZER);
  return vtable.optimizer;
}
const llmrt_lr_schedule_vtable& Component::lr_schedule() const {
  assert(kind == LLMRT_KIND_LR_SCHEDULE);
  return vtable.lr_schedule;
}
const llmrt_pipeline_schedule_vtable& Component::pipeline_schedule() const {
  assert(kind == LLMRT_KIND_PIPELINE_SCHEDULE);
  return vtable.pipeline_schedule;
}

const Component* Registry::find(std::string_view name) const {
  auto it = components_.find(name);
  return it == components_.end() ? nullptr : it->second.get();
}

Result<const Component*> Registry::lookup(std::string_view name, llmrt_component_kind kind,
                                          std::string_view where) const {
  if (const Component* component = find(name)) {
    if (component->kind == kind) return component;
    return input_error("{}: '{}' is a {} (from {}), expected a {}", where, name, kind_name(component->kind),
                       component->plugin->path, kind_name(kind));
  }
  std::vector<std::string> same_kind;
  for (const auto& [other, component] : components_) {
    if (component->kind == kind) same_kind.push_back(other);
  }
  const std::string suggestion = closest_match(name, same_kind);
  const std::string hint = !suggestion.empty() ? fmt::format("did you mean '{}'?", suggestion)
                           : same_kind.empty() ? std::string("none is registered; check the plugin paths")
                                               : fmt::format("registered: {}", join(same_kind, ", "));
  return input_error("{}: no {} named '{}' ({})", where, kind_name(kind), name, hint);
}

std::vector<const Component*> Registry::components() const {
  std::vector<const Component*> all;
  for (const auto& [name, component] : components_) all.push_back(component.get());
  return all;  // std::map keeps them sorted by name
}

bool Registry::has_plugin_path(std::string_view canonical_path) const {
  return std::any_of(plugins_.begin(), plugins_.end(), [&](const auto& p) { return p->path == canonical_path; });
}

namespace {

// What registrar->add sees while one plugin registers.
struct PendingRegistration {
  const Registry* registry;
  const LoadedPlugin* plugin;
  std::vector<std::unique_ptr<Component>> staged;
  std::optional<Error> first_error;  // kept even if the plugin ignores add's status
};

Status stage_component(PendingRegistration& pending, const llmrt_component_desc* desc) {
  LLMRT_ASSIGN_OR_RETURN(auto component, check_component(desc, *pending.plugin));
  if (const Component* existing = pending.registry->find(component.name)) {
    return input_error("component '{}' is already registered by {} (plugin '{}'); two plugins may not register "
                       "one name", component.name, existing->plugin->path, existing->plugin->name);
  }
  for (const auto& staged : pending.staged) {
    if (staged->name == component.name) return input_error("component '{}' is registered twice", component.name);
  }
  pending.staged.push_back(std::make_unique<Component>(std::move(component)));
  return Status::success();
}

llmrt_status* registrar_add(llmrt_registrar* registrar, const llmrt_component_desc* desc) {
  auto& pending = *static_cast<PendingRegistration*>(registrar->host_private);
  Status status = stage_component(pending, desc);
  if (status.ok()) return nullptr;
  if (!pending.first_error) pending.first_error = status.error();
  return plugin_host_api()->status_new(LLMRT_INVALID_ARGUMENT, status.error().message().c_str());
}

}  // namespace

Status Registry::register_plugin(LoadedPlugin plugin, const llmrt_plugin_identity& identity) {
  auto owned = std::make_unique<LoadedPlugin>(std::move(plugin));
  PendingRegistration pending{this, owned.get(), {}, std::nullopt};
  llmrt_registrar registrar{sizeof(llmrt_registrar), &registrar_add, &pending};
  llmrt_status* returned = identity.register_components(plugin_host_api(), &registrar);
  Status outcome = take_plugin_status(returned, "registration failed", ErrorKind::kInput);
  // The host's own finding names the field; prefer it over the plugin's echo of it.
  if (pending.first_error) return *pending.first_error;
  if (!outcome.ok()) return outcome;
  for (auto& component : pending.staged) {
    std::string name = component->name;
    components_.emplace(std::move(name), std::move(component));
  }
  plugins_.push_back(std::move(owned));
  return Status::success();
}

}  // namespace llmrt
