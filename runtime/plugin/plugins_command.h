// `llmrt plugins list` and `llmrt plugins info NAME`: what the CLI prints about the
// components found on the plugin search path.
#pragma once

#include <ostream>
#include <string_view>

#include "plugin/plugin_search.h"
#include "util/status.h"

namespace llmrt {

// One line per component: name, kind, version, path of the file that registered it.
Status list_plugins(const PluginSearchOptions& options, std::ostream& out);

// Kind, version, doc, plugin, path, build id, ABI and the declared config keys of one component.
Status describe_plugin(const PluginSearchOptions& options, std::string_view name, std::ostream& out);

}  // namespace llmrt
