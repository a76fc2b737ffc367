// Checks one component descriptor a plugin hands to registrar->add and copies it into a
// Component: sizes, kind, required function slots, config key declarations; the function
// table becomes the host's zero-filled copy (registry.h, ComponentVtable).
#pragma once

#include <llmrt/plugin.h>

#include "plugin/registry.h"
#include "util/status.h"

namespace llmrt {

// An input error naming the component and the field when the descriptor is unusable.
Result<Component> check_component(const llmrt_component_desc* desc, const LoadedPlugin& plugin);

}  // namespace llmrt
