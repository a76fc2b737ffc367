// The config file as one merged TOML tree: includes resolved and merged, `--set` overrides
// applied, unknown keys rejected. Every node keeps the file, line and column it came from.
#pragma once

#include <string>
#include <vector>

#include <toml++/toml.h>

#include "config/spec.h"
#include "util/status.h"

namespace llmrt {

struct ConfigDocument {
  std::string path;  // the file named on the command line
  toml::table root;
};

// Reads `path` and everything it includes. Included files are merged first, in order;
// the including file's keys override theirs (tables merge, everything else is replaced).
Result<ConfigDocument> load_config_document(const std::string& path);

// Applies "key.path=value" overrides, the value typed like a TOML value ("8", "\"x\"",
// "[1, 2]", "auto" for a string key). Fails on a key the schema does not have.
Status apply_overrides(ConfigDocument& document, const std::vector<std::string>& overrides);

// Fails on the first key the schema does not know, with a "did you mean" when one is close.
Status check_unknown_keys(const ConfigDocument& document);

// Where a node was written ("--set" for an override).
SourcePos position_of(const toml::node& node, std::string key_path);

}  // namespace llmrt
