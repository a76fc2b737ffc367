// Printing the registry for people: a table for `plugins list`, a record for `plugins info`.
#include "plugin/plugins_command.h"

#include <string>
#include <vector>

#include "plugin/component_config.h"
#include "util/strings.h"

namespace llmrt {

// Every component that loaded; each file that did not is named with its reason in the error
// (exit code 2) after the rest are listed.
Status list_plugins(const PluginSearchOptions& options, std::ostream& out) {
  std::vector<BrokenPlugin> broken;
  const Registry registry = load_plugins_listing(options, broken);
  const auto components = registry.components();
  if (components.empty()) {
    std::vector<std::string> searched;
    for (const auto& entry : plugin_search_path(options)) searched.push_back(entry.path);
    out << fmt::format("no plugins found (searched: {})\n", searched.empty() ? "nothing" : join(searched, ", "));
  } else {
    out << fmt::format("{:<24} {:<18} {:<10} {}\n", "NAME", "KIND", "VERSION", "PATH");
    for (const Component* component : components) {
      out << fmt::format("{:<24} {:<18} {:<10} {}\n", component->name, kind_name(component->kind),
                         component->version, component->plugin->path);
    }
  }
  if (broken.empty()) return Status::success();
  // Each reason starts with the file ("plugin /p/x.so: identity.magic: ..."). On stderr, with the
  // exit code: stdout holds only what loaded.
  std::string reasons;
  for (const BrokenPlugin& file : broken) reasons += "\n  " + file.reason;
  return input_error("plugins list: {} plugin file{} on the search path did not load (`check` and `run` refuse a "
                     "search path with a broken file; the components listed are those of the files that loaded):{}",
                     broken.size(), broken.size() == 1 ? "" : "s", reasons);
}

Status describe_plugin(const PluginSearchOptions& options, std::string_view name, std::ostream& out) {
  LLMRT_ASSIGN_OR_RETURN(auto registry, load_plugins(options));
  const Component* component = registry.find(name);
  if (component == nullptr) {
    std::vector<std::string> names;
    for (const Component* c : registry.components()) names.push_back(c->name);
    const std::string suggestion = closest_match(name, names);
    return input_error("plugins info: no component named '{}'{}", name,
                       suggestion.empty() ? std::string() : fmt::format(" (did you mean '{}'?)", suggestion));
  }
  const LoadedPlugin& plugin = *component->plugin;
  out << fmt::format("name:      {}\nkind:      {}\nversion:   {}\n", component->name, kind_name(component->kind),
                     component->version);
  if (!component->doc.empty()) out << fmt::format("doc:       {}\n", component->doc);
  out << fmt::format("plugin:    {} {}\npath:      {}\nbuild id:  {}\nabi:       {}.{}\n", plugin.name,
                     plugin.version, plugin.path, plugin.build_id, plugin.abi_major, plugin.abi_minor);
  // Shorter than the host's: an older minor, whose missing optional slots take their defaults.
  out << fmt::format("vtable:    {} bytes (this llmrt's: {})\n", component->plugin_vtable_size,
                     host_vtable_size(component->kind));
  if (component->keys.empty()) {
    out << "keys:      none\n";
    return Status::success();
  }
  out << "keys:\n";
  for (const ConfigKeyDecl& key : component->keys) {
    const std::string fallback = key.default_value ? fmt::format("default {}", *key.default_value) : "required";
    out << fmt::format("  {:<20} {:<12} {:<20} {}\n", key.name, key_type_name(key.type), fallback, key.doc);
  }
  return Status::success();
}

}  // namespace llmrt
