// Loading one plugin file: permission checks, dlopen(RTLD_NOW | RTLD_LOCAL), the entry symbol,
// the identity check and registration. Files are never unloaded.
#pragma once

#include <string>

#include "plugin/registry.h"
#include "util/status.h"

namespace llmrt {

struct LoadOptions {
  // Accept a plugin file or directory that users other than its owner may write to
  // (--allow-insecure-plugins); otherwise such files are refused before dlopen.
  bool allow_insecure = false;
};

// Loads `path` into `registry`. Every failure is an input error that starts with
// "plugin <path>:" and names the field, what the host expected and what it found; on failure
// nothing of the file is registered. Loading a file already in the registry does nothing.
Status load_plugin_file(Registry& registry, const std::string& path, const LoadOptions& options);

}  // namespace llmrt
