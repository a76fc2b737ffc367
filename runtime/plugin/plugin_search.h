// Where plugins are looked for, in order: the built-in plugin directory, then the config's
// model.plugin_paths, then LLMRT_PLUGIN_PATH (colon-separated). Each entry is a .so file or a
// directory whose *.so files are loaded in name order.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "plugin/plugin_loader.h"
#include "plugin/registry.h"
#include "util/status.h"

namespace llmrt {

struct PluginSearchOptions {
  std::vector<std::string> config_paths;  // model.plugin_paths, already resolved against the config file
  bool allow_insecure = false;            // --allow-insecure-plugins
  bool use_builtin = true;
  // LLMRT_PLUGIN_PATH as read from the environment, unless set here (tests, or a caller that
  // already read it); an empty string means "no entries".
  std::optional<std::string> environment_path;
};

// One place to look, with why it is on the list (for error messages and `plugins list`).
struct PluginSearchEntry {
  std::string path;
  std::string origin;     // "built-in", "model.plugin_paths", "LLMRT_PLUGIN_PATH"
  bool required = true;   // a missing built-in directory is fine; a path the user named is not
};

// The built-in directory: ../lib/llmrt/plugins beside an installed executable, else the build
// tree's plugin directory baked in at compile time.
std::string builtin_plugin_dir();

std::vector<PluginSearchEntry> plugin_search_path(const PluginSearchOptions& options);

// Loads every plugin on the search path into one registry; the first failure is returned
// (`check`, `run`: a broken file on the path is an error even when no component of it is used).
Result<Registry> load_plugins(const PluginSearchOptions& options);

// A file (or a search entry) that did not load, with the loader's message.
struct BrokenPlugin {
  std::string path;
  std::string reason;
};
// For `plugins list`: loads every file it can and lists the others in `broken` (in search
// order) instead of stopping at the first; nothing of a broken file is registered.
Registry load_plugins_listing(const PluginSearchOptions& options, std::vector<BrokenPlugin>& broken);

}  // namespace llmrt
