// The registry: every component the loaded plugins registered, by name, with the file and
// build it came from. Filled by the loader (plugin_loader.h); read by the planner and executor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <llmrt/plugin.h>

#include "util/status.h"

namespace llmrt {

// One plugin file that passed its identity check and registered.
struct LoadedPlugin {
  std::string path;  // canonical path of the .so
  std::string name;
  std::string version;
  std::string build_id;
  int abi_major = 0;
  int abi_minor = 0;
};

// A config key as the component declared it (copied out of the plugin).
struct ConfigKeyDecl {
  std::string name;
  llmrt_key_type type = LLMRT_KEY_INT;
  std::optional<std::string> default_value;  // TOML literal; nullopt = required
  std::string doc;
};

// A component's function table as this host knows it: the plugin's table copied into a
// zero-filled struct of the host's size for its kind (see copy_vtable), so that every slot the
// plugin's table lacks reads as NULL and no read goes past the end of the plugin's data.
// Every member starts with struct_size, which holds the host's size after the copy.
union ComponentVtable {
  llmrt_layer_vtable layer;
  llmrt_optimizer_vtable optimizer;
  llmrt_lr_schedule_vtable lr_schedule;
  llmrt_pipeline_schedule_vtable pipeline_schedule;
};

// Copies min(plugin_vtable->struct_size, host size) bytes of a table of `kind` into a zeroed
// ComponentVtable and sets its struct_size to the host's. The caller has checked the kind.
ComponentVtable copy_vtable(llmrt_component_kind kind, const void* plugin_vtable);
// sizeof this host's function table of `kind`.
std::size_t host_vtable_size(llmrt_component_kind kind);

struct Component {
  llmrt_component_kind kind = LLMRT_KIND_LAYER;
  std::string name;
  std::string version;
  std::string doc;
  std::vector<ConfigKeyDecl> keys;
  ComponentVtable vtable{};               // the host's copy; the functions live in the plugin
  std::size_t plugin_vtable_size = 0;     // struct_size of the plugin's own table, for `plugins info`
  const LoadedPlugin* plugin = nullptr;

  // The host's copy of the function table of this kind; asserts the kind. Calls go through
  // plugin_calls.h, which is the one place that calls into a component.
  const llmrt_layer_vtable& layer() const;
  const llmrt_optimizer_vtable& optimizer() const;
  const llmrt_lr_schedule_vtable& lr_schedule() const;
  const llmrt_pipeline_schedule_vtable& pipeline_schedule() const;
};

std::string_view kind_name(std::int32_t kind);  // "layer", "optimizer", "lr_schedule", "pipeline_schedule"

class Registry {
 public:
  Registry() = default;
  Registry(Registry&&) = default;
  Registry& operator=(Registry&&) = default;

  // The component named `name`, or nullptr.
  const Component* find(std::string_view name) const;
  // The component of `kind` named `name`; an input error with "did you mean" otherwise.
  // `where` prefixes the message (e.g. the config position that names it).
  Result<const Component*> lookup(std::string_view name, llmrt_component_kind kind,
                                  std::string_view where) const;
  // All components, sorted by name.
  std::vector<const Component*> components() const;
  const std::vector<std::unique_ptr<LoadedPlugin>>& plugins() const { return plugins_; }
  bool has_plugin_path(std::string_view canonical_path) const;

  // Runs the plugin's registration against this registry: all of its components, or (on any
  // error) none of them. Called by the loader once the identity passed its checks.
  Status register_plugin(LoadedPlugin plugin, const llmrt_plugin_identity& identity);

 private:
  std::vector<std::unique_ptr<LoadedPlugin>> plugins_;
  std::map<std::string, std::unique_ptr<Component>, std::less<>> components_;
};

}  // namespace llmrt
