// What a plugin file must be before dlopen runs any of its code (an ELF shared object for this
// machine, whose headers lie inside the file), and the identity its entry symbol returns. Pure
// checks, kept apart from the loader so they can be fuzzed (tests/fuzz/plugin_elf_fuzz.cpp).
#pragma once

#include <string>

#include <llmrt/plugin.h>

#include "util/status.h"

namespace llmrt {

// Reads the ELF header and program header table of `path` (nothing else) and refuses, as
// "ELF <field>: expected X, found Y", a file that is not a 64-bit little-endian shared object
// for this machine, or whose program headers or loaded segments reach past its end (a
// truncated copy). Input errors only.
Status check_elf_file(const std::string& path);

// Every identity field that does not fit this host, as "identity.field: expected X, found Y".
// The name, version and build id must be non-empty strings of at most kMaxIdentityString bytes.
inline constexpr std::size_t kMaxIdentityString = 256;
Status check_plugin_identity(const llmrt_plugin_identity* id);

}  // namespace llmrt
