// The plugin search path and the walk that loads every plugin on it.
#include "plugin/plugin_search.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <sstream>

namespace llmrt {
namespace {

namespace fs = std::filesystem;

#ifndef LLMRT_BUILD_PLUGIN_DIR
#define LLMRT_BUILD_PLUGIN_DIR ""
#endif
#ifndef LLMRT_INSTALL_PLUGIN_RELDIR
#define LLMRT_INSTALL_PLUGIN_RELDIR "../lib/llmrt/plugins"
#endif

std::vector<std::string> split_colon_list(const std::string& text) {
  std::vector<std::string> items;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ':')) {
    if (!item.empty()) items.push_back(item);
  }
  return items;
}

// The .so files a search entry stands for, in load order.
Result<std::vector<std::string>> plugin_files(const PluginSearchEntry& entry) {
  std::error_code error;
  const fs::file_status status = fs::status(entry.path, error);
  if (!fs::exists(status)) {
    if (!entry.required) return std::vector<std::string>{};
    return input_error("{} entry {}: no such file or directory", entry.origin, entry.path);
  }
  if (!fs::is_directory(status)) return std::vector<std::string>{entry.path};
  std::vector<std::string> files;
  for (const fs::directory_entry& item : fs::directory_iterator(entry.path, error)) {
    if (item.path().extension() == ".so") files.push_back(item.path().string());
  }
  if (error) return input_error("{} entry {}: cannot list the directory: {}", entry.origin, entry.path, error.message());
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

std::string builtin_plugin_dir() {
  std::error_code error;
  const fs::path executable = fs::read_symlink("/proc/self/exe", error);
  if (!error) {
    const fs::path installed = executable.parent_path() / LLMRT_INSTALL_PLUGIN_RELDIR;
    if (fs::is_directory(installed, error)) return fs::weakly_canonical(installed, error).string();
  }
  return LLMRT_BUILD_PLUGIN_DIR;
}

std::vector<PluginSearchEntry> plugin_search_path(const PluginSearchOptions& options) {
  std::vector<PluginSearchEntry> entries;
  if (options.use_builtin) {
    const std::string builtin = builtin_plugin_dir();
    if (!builtin.empty()) entries.push_back({builtin, "built-in", false});
  }
  for (const std::string& path : options.config_paths) entries.push_back({path, "model.plugin_paths", true});
  std::string environment;
  if (options.environment_path) {
    environment = *options.environment_path;
  } else if (const char* value = std::getenv("LLMRT_PLUGIN_PATH")) {  // documented in docs/plugins.md
    environment = value;
  }
  for (const std::string& path : split_colon_list(environment)) entries.push_back({path, "LLMRT_PLUGIN_PATH", true});
  return entries;
}

Result<Registry> load_plugins(const PluginSearchOptions& options) {
  Registry registry;
  const LoadOptions load_options{options.allow_insecure};
  for (const PluginSearchEntry& entry : plugin_search_path(options)) {
    LLMRT_ASSIGN_OR_RETURN(auto files, plugin_files(entry));
    for (const std::string& file : files) {
      LLMRT_RETURN_IF_ERROR(load_plugin_file(registry, file, load_options));
    }
  }
  return registry;
}

Registry load_plugins_listing(const PluginSearchOptions& options, std::vector<BrokenPlugin>& broken) {
  Registry registry;
  const LoadOptions load_options{options.allow_insecure};
  for (const PluginSearchEntry& entry : plugin_search_path(options)) {
    auto files = plugin_files(entry);
    if (!files) {
      broken.push_back({entry.path, files.error().message()});
      continue;
    }
    for (const std::string& file : *files) {
      const Status loaded = load_plugin_file(registry, file, load_options);
      if (!loaded.ok()) broken.push_back({file, loaded.error().message()});
    }
  }
  return registry;
}

}  // namespace llmrt
