// Every config key llmrt knows: its path, type and default. The readers, the unknown-key
// check, `--set` and the docs test (docs/config.md must cover every key) all use this table.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace llmrt {

enum class KeyType {
  kString,
  kInt,
  kFloat,           // an integer is accepted where a float is expected
  kBool,
  kStringArray,
  kIntArray,
  kTable,
  kTableArray,      // [[...]] or an array of inline tables
  kIntOrAuto,       // an integer or "auto"
  kIntArrayOrAuto,  // an array of integers or "auto"
  kDeviceList,      // "0-7", "0,2,5" or [0, 2, 5]
  kComponent,       // a table naming a plugin component; its other keys belong to the plugin
};

struct KeyInfo {
  std::string_view path;          // "cluster.node[].gpus.count": [] stands for any array index
  KeyType type;
  std::string_view default_text;  // as documented; "" when required or derived
  bool required = false;
};

const std::vector<KeyInfo>& config_schema();

// "cluster.node[3].gpus" -> "cluster.node[].gpus"
std::string schema_path_of(std::string_view key_path);

// The schema entry for a key path (indices allowed), or nullptr.
const KeyInfo* find_schema_key(std::string_view key_path);

// The names of the keys directly under a table path ("" for the top level).
std::vector<std::string> schema_children(std::string_view table_path);

// "an integer", "a string", ... for messages.
std::string_view describe_key_type(KeyType type);

}  // namespace llmrt
