// `llmrt plugins test NAME`: the checks a plugin's author runs on a layer or an optimizer before
// training with it (docs/plugins.md, "Testing a plugin"). One line per check on stdout, a
// verdict last; exit 0 when all pass, 1 when any fails, 2 for bad input (an unknown component,
// a bad --set or --shape).
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "comm/world.h"
#include "plugin/plugin_search.h"
#include "plugtest/plugin_test_options.h"
#include "util/status.h"

namespace llmrt {

// `sets`: the --set key=value pairs, each a key the component declares. Keys the host fills in
// a model (d_model, vocab_size, seq_len) get test defaults when not set (docs/plugins.md).
Status plugin_test_command(const plugtest::PluginTestOptions& options, const std::vector<std::string>& sets,
                           PluginSearchOptions search, const World& world, std::ostream& out);

}  // namespace llmrt
