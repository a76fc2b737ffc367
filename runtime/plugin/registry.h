// The registry: every component the loaded plugins registered, by name, with the file and
// build it came from. Filled by the loader (plugin_loader.h); read by the planner and executor.
#pragma once

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

struct Component {
  llmrt_component_kind kind = LLMRT_KIND_LAYER;
  std::string name;
  std::string version;
  std::string doc;
  std::vector<ConfigKeyDecl> keys;
  const void* vtable = nullptr;  // static data of the plugin, which is never unloaded
  const LoadedPlugin* plugin = nullptr;

  // The function table of this kind; asserts the kind.
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
