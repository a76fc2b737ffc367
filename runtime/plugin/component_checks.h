// Checks one component descriptor a plugin hands to registrar->add and copies it into a
// Component: sizes, kind, required function slots, config key declarations.
#pragma once

#include <llmrt/plugin.h>

#include "plugin/registry.h"
#include "util/status.h"

namespace llmrt {

// An input error naming the component and the field when the descriptor is unusable.
Result<Component> check_component(const llmrt_component_desc* desc, const LoadedPlugin& plugin);

// True when the (possibly older, smaller) table of `kind` was built with the slot ending at
// `slot_end` bytes: how callers read optional slots added in later minors.
inline bool vtable_has(const void* vtable, std::size_t slot_end) {
  return *static_cast<const std::size_t*>(vtable) >= slot_end;
}

}  // namespace llmrt
