// `--set key.path=value` overrides and the unknown-key check, both driven by the schema.
#include <charconv>
#include <sstream>

#include "config/config_document.h"
#include "config/schema.h"
#include "util/strings.h"

namespace llmrt {
namespace {

struct PathSegment {
  std::string name;
  int index = -1;  // "node[2]" -> 2
};

Result<std::vector<PathSegment>> split_key_path(std::string_view path, std::string_view shown) {
  std::vector<PathSegment> segments;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('.', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view part = path.substr(start, end - start);
    PathSegment segment;
    const std::size_t bracket = part.find('[');
    segment.name = std::string(part.substr(0, bracket));
    if (bracket != std::string_view::npos) {
      const std::string_view digits = part.substr(bracket + 1, part.size() - bracket - 2);
      auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), segment.index);
      if (part.back() != ']' || ec != std::errc() || ptr != digits.data() + digits.size() || segment.index < 0) {
        return input_error("{}: '{}' is not a key path (expected e.g. cluster.node[0].name)", shown, path);
      }
    }
    if (segment.name.empty()) return input_error("{}: '{}' is not a key path", shown, path);
    segments.push_back(std::move(segment));
    start = end + 1;
  }
  return segments;
}

// True when the key is a plugin component's own parameter (model.layer[].d_model, train.optimizer.lr).
bool is_component_param(std::string_view key_path) {
  const std::size_t dot = key_path.rfind('.');
  if (dot == std::string_view::npos) return false;
  const KeyInfo* parent = find_schema_key(key_path.substr(0, dot));
  return parent && parent->type == KeyType::kComponent;
}

std::string unknown_key_message(std::string_view parent_path, std::string_view key) {
  const std::vector<std::string> known = schema_children(parent_path);
  std::string message = fmt::format("unknown key '{}'", key);
  const std::string suggestion = closest_match(key, known);
  if (!suggestion.empty()) message += fmt::format("; did you mean '{}'?", suggestion);
  if (!known.empty()) message += fmt::format(" (keys here: {})", join(known, ", "));
  return message;
}

Result<toml::table> parse_override_value(std::string_view key_path, std::string_view value, const KeyInfo* info) {
  const std::string source = fmt::format("--set {}", key_path);
  try {
    return toml::parse(fmt::format("value = {}", value), source);
  } catch (const toml::parse_error&) {
  }
  // A bare word is a string where the key takes one: --set data.train=shards/x.bin
  const bool takes_string = info && (info->type == KeyType::kString || info->type == KeyType::kIntOrAuto ||
                                     info->type == KeyType::kIntArrayOrAuto || info->type == KeyType::kDeviceList);
  if (takes_string || (!info && is_component_param(key_path))) {
    std::ostringstream quoted;  // TOML's own quoting, so the value parses back as that string
    quoted << toml::value<std::string>(std::string(value));
    return toml::parse(fmt::format("value = {}", quoted.str()), source);
  }
  return input_error("--set {}={}: '{}' is not a TOML value (strings need quotes, arrays brackets)", key_path, value,
                     value);
}

// Walks to the table that holds the last segment, creating tables the schema allows.
Result<toml::table*> table_for_override(toml::table& root, const std::vector<PathSegment>& segments,
                                        std::string_view shown) {
  toml::table* table = &root;
  std::string walked;
  for (std::size_t i = 0; i + 1 < segments.size(); ++i) {
    const PathSegment& segment = segments[i];
    walked += (walked.empty() ? "" : ".") + segment.name;
    toml::node* node = table->get(segment.name);
    if (segment.index >= 0) {
      toml::array* array = node ? node->as_array() : nullptr;
      if (!array || static_cast<std::size_t>(segment.index) >= array->size()) {
        return input_error("{}: {} has {} entries; there is no [{}]", shown, walked, array ? array->size() : 0,
                           segment.index);
      }
      walked += fmt::format("[{}]", segment.index);
      node = array->get(static_cast<std::size_t>(segment.index));
    } else if (!node) {
      node = table->insert(segment.name, toml::table{}).first->second.as_table();
    }
    if (!node->is_table()) return input_error("{}: {} is not a table", shown, walked);
    table = node->as_table();
  }
  return table;
}

Status apply_one_override(ConfigDocument& document, const std::string& override_text) {
  const std::size_t equals = override_text.find('=');
  if (equals == std::string::npos) {
    return input_error("--set {}: expected key.path=value", override_text);
  }
  const std::string key_path = override_text.substr(0, equals);
  const std::string value = override_text.substr(equals + 1);
  const std::string shown = fmt::format("--set {}", override_text);
  const KeyInfo* info = find_schema_key(key_path);
  if (!info && !is_component_param(key_path)) {
    const std::size_t dot = key_path.rfind('.');
    const std::string parent = dot == std::string::npos ? "" : key_path.substr(0, dot);
    const std::string leaf = dot == std::string::npos ? key_path : key_path.substr(dot + 1);
    return input_error("{}: {}", shown, unknown_key_message(parent, leaf));
  }
  LLMRT_ASSIGN_OR_RETURN(auto segments, split_key_path(key_path, shown));
  LLMRT_ASSIGN_OR_RETURN(auto table, table_for_override(document.root, segments, shown));
  LLMRT_ASSIGN_OR_RETURN(auto parsed, parse_override_value(key_path, value, info));
  const PathSegment& leaf = segments.back();
  toml::node* value_node = parsed.get("value");
  if (leaf.index >= 0) {
    toml::array* array = table->get(leaf.name) ? table->get(leaf.name)->as_array() : nullptr;
    if (!array || static_cast<std::size_t>(leaf.index) >= array->size()) {
      return input_error("{}: {} has no entry [{}]", shown, leaf.name, leaf.index);
    }
    array->replace(array->begin() + leaf.index, std::move(*value_node));
  } else {
    table->insert_or_assign(leaf.name, std::move(*value_node));
  }
  return Status::success();
}

Status check_table_keys(const toml::table& table, const std::string& path);

Status check_child(const toml::node& node, const std::string& child_path) {
  const KeyInfo* info = find_schema_key(child_path);
  if (!info) return Status::success();
  if ((info->type == KeyType::kTable || info->type == KeyType::kComponent) && node.is_table()) {
    return check_table_keys(*node.as_table(), child_path);
  }
  if (info->type == KeyType::kTableArray && node.is_table()) {  // gpus = { ... } for gpus = [{ ... }]
    return check_table_keys(*node.as_table(), child_path);
  }
  if (info->type == KeyType::kTableArray && node.is_array()) {
    const toml::array& array = *node.as_array();
    for (std::size_t i = 0; i < array.size(); ++i) {
      if (array.get(i)->is_table()) {
        LLMRT_RETURN_IF_ERROR(check_table_keys(*array.get(i)->as_table(), fmt::format("{}[{}]", child_path, i)));
      }
    }
  }
  return Status::success();
}

Status check_table_keys(const toml::table& table, const std::string& path) {
  for (auto&& [key, node] : table) {
    const std::string child_path = path.empty() ? std::string(key.str()) : fmt::format("{}.{}", path, key.str());
    if (!find_schema_key(child_path) && !is_component_param(child_path)) {
      return input_error("{}: {}", position_of(node, child_path).describe(), unknown_key_message(path, key.str()));
    }
    LLMRT_RETURN_IF_ERROR(check_child(node, child_path));
  }
  return Status::success();
}

}  // namespace

Status apply_overrides(ConfigDocument& document, const std::vector<std::string>& overrides) {
  for (const std::string& override_text : overrides) {
    LLMRT_RETURN_IF_ERROR(apply_one_override(document, override_text));
  }
  return Status::success();
}

Status check_unknown_keys(const ConfigDocument& document) { return check_table_keys(document.root, ""); }

}  // namespace llmrt
