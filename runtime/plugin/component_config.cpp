// Resolving a component's config keys: the checks behind "unknown key 'd_modle' (did you mean
// 'd_model'?)" and the conversion of TOML values into the C view plugins read.
#include "plugin/component_config.h"

#include <deque>
#include <sstream>
#include <string>
#include <vector>

#include <toml++/toml.h>

#include "util/strings.h"

namespace llmrt {

// One resolved key's owned data; llmrt_config_value points into it. A deque keeps addresses
// stable while entries are added.
struct ResolvedConfig::Storage {
  struct Entry {
    std::string name;
    std::string string;
    std::vector<std::int64_t> integers;
    std::vector<double> numbers;
    std::vector<std::string> strings;
    std::vector<const char*> string_pointers;
  };
  std::deque<Entry> entries;
  std::vector<llmrt_config_value> values;
  llmrt_config config{};
};

ResolvedConfig::ResolvedConfig(std::unique_ptr<Storage> storage) : storage_(std::move(storage)) {}
ResolvedConfig::ResolvedConfig(ResolvedConfig&&) noexcept = default;
ResolvedConfig& ResolvedConfig::operator=(ResolvedConfig&&) noexcept = default;
ResolvedConfig::~ResolvedConfig() = default;
const llmrt_config* ResolvedConfig::get() const { return &storage_->config; }

std::string_view key_type_name(std::int32_t type) {
  switch (type) {
    case LLMRT_KEY_BOOL: return "bool";
    case LLMRT_KEY_INT: return "int";
    case LLMRT_KEY_FLOAT: return "float";
    case LLMRT_KEY_STRING: return "string";
    case LLMRT_KEY_FLOAT_LIST: return "float list";
    case LLMRT_KEY_INT_LIST: return "int list";
    case LLMRT_KEY_STRING_LIST: return "string list";
    default: return "unknown type";
  }
}

namespace {

std::string_view value_type_name(const ParamValue& value) {
  static const std::string_view kNames[] = {"bool", "int", "float", "string", "float list", "int list", "string list"};
  return kNames[value.index()];
}

// Fills `entry`/`out` from `value` when it fits the key's type; else returns false.
bool convert_value(const ParamValue& value, std::int32_t type, ResolvedConfig::Storage::Entry& entry,
                   llmrt_config_value& out) {
  out.type = type;
  if (type == LLMRT_KEY_BOOL && std::holds_alternative<bool>(value)) {
    out.boolean = std::get<bool>(value) ? 1 : 0;
  } else if (type == LLMRT_KEY_INT && std::holds_alternative<std::int64_t>(value)) {
    out.integer = std::get<std::int64_t>(value);
  } else if (type == LLMRT_KEY_FLOAT && std::holds_alternative<double>(value)) {
    out.number = std::get<double>(value);
  } else if (type == LLMRT_KEY_FLOAT && std::holds_alternative<std::int64_t>(value)) {
    out.number = static_cast<double>(std::get<std::int64_t>(value));
  } else if (type == LLMRT_KEY_STRING && std::holds_alternative<std::string>(value)) {
    entry.string = std::get<std::string>(value);
    out.string = entry.string.c_str();
  } else if (type == LLMRT_KEY_FLOAT_LIST && std::holds_alternative<std::vector<double>>(value)) {
    entry.numbers = std::get<std::vector<double>>(value);
  } else if (type == LLMRT_KEY_FLOAT_LIST && std::holds_alternative<std::vector<std::int64_t>>(value)) {
    for (std::int64_t v : std::get<std::vector<std::int64_t>>(value)) entry.numbers.push_back(static_cast<double>(v));
  } else if (type == LLMRT_KEY_INT_LIST && std::holds_alternative<std::vector<std::int64_t>>(value)) {
    entry.integers = std::get<std::vector<std::int64_t>>(value);
  } else if (type == LLMRT_KEY_STRING_LIST && std::holds_alternative<std::vector<std::string>>(value)) {
    entry.strings = std::get<std::vector<std::string>>(value);
  } else {
    return false;
  }
  out.numbers = entry.numbers.data();
  out.integers = entry.integers.data();
  for (const std::string& s : entry.strings) entry.string_pointers.push_back(s.c_str());
  out.strings = entry.string_pointers.data();
  out.count = type == LLMRT_KEY_FLOAT_LIST ? entry.numbers.size()
            : type == LLMRT_KEY_INT_LIST   ? entry.integers.size()
                                           : entry.strings.size();
  return true;
}

// A TOML array as the ParamValue list it can be; nullopt for a mixed or nested array.
std::optional<ParamValue> array_value(const toml::array& array) {
  std::vector<std::int64_t> ints;
  std::vector<double> floats;
  std::vector<std::string> strings;
  for (const toml::node& node : array) {
    if (auto v = node.value_exact<std::int64_t>()) ints.push_back(*v), floats.push_back(static_cast<double>(*v));
    else if (auto d = node.value_exact<double>()) floats.push_back(*d);
    else if (auto s = node.value_exact<std::string>()) strings.push_back(*s);
    else return std::nullopt;
  }
  if (!strings.empty()) {
    if (strings.size() != array.size()) return std::nullopt;
    return ParamValue(strings);
  }
  if (ints.size() == array.size()) return ParamValue(ints);
  return ParamValue(floats);
}

}  // namespace

Result<ParamValue> parse_default_value(const ConfigKeyDecl& key) {
  const std::string literal = *key.default_value;
  std::optional<ParamValue> value;
  try {
    toml::table table = toml::parse(fmt::format("value = {}", literal));
    const toml::node& node = *table.get("value");
    if (auto b = node.value_exact<bool>()) value = *b;
    else if (auto i = node.value_exact<std::int64_t>()) value = *i;
    else if (auto d = node.value_exact<double>()) value = *d;
    else if (auto s = node.value_exact<std::string>()) value = *s;
    else if (const toml::array* array = node.as_array()) value = array_value(*array);
  } catch (const toml::parse_error&) {
    return input_error("expected a TOML literal of type {}, found '{}'", key_type_name(key.type), literal);
  }
  ResolvedConfig::Storage::Entry entry;
  llmrt_config_value out{};
  if (!value || !convert_value(*value, key.type, entry, out)) {
    return input_error("expected a TOML literal of type {}, found '{}'", key_type_name(key.type), literal);
  }
  return *value;
}

namespace {

Status check_unknown_keys(const Component& component, const ComponentSpec& spec) {
  std::vector<std::string> declared;
  for (const ConfigKeyDecl& key : component.keys) declared.push_back(key.name);
  for (const auto& [name, value] : spec.params) {
    bool known = false;
    for (const std::string& d : declared) known = known || d == name;
    if (known) continue;
    const std::string suggestion = closest_match(name, declared);
    const std::string hint = !suggestion.empty() ? fmt::format(" (did you mean '{}'?)", suggestion)
                             : declared.empty() ? std::string(" (it takes no keys)")
                                                : fmt::format(" (it takes: {})", join(declared, ", "));
    return input_error("{}: unknown key '{}' for {} '{}'{}", value.pos.describe(), name,
                       kind_name(component.kind), component.name, hint);
  }
  return Status::success();
}

}  // namespace

Result<ResolvedConfig> resolve_component_config(const Component& component, const ComponentSpec& spec) {
  LLMRT_RETURN_IF_ERROR(check_unknown_keys(component, spec));
  auto storage = std::make_unique<ResolvedConfig::Storage>();
  for (const ConfigKeyDecl& key : component.keys) {
    auto& entry = storage->entries.emplace_back();
    entry.name = key.name;
    llmrt_config_value out{};
    out.struct_size = sizeof(out);
    const auto given = spec.params.find(key.name);
    if (given != spec.params.end()) {
      if (!convert_value(given->second.value, key.type, entry, out)) {
        return input_error("{}: key '{}' of {} '{}': expected {}, found {}", given->second.pos.describe(), key.name,
                           kind_name(component.kind), component.name, key_type_name(key.type),
                           value_type_name(given->second.value));
      }
    } else if (key.default_value) {
      LLMRT_ASSIGN_OR_RETURN(auto value, parse_default_value(key));
      convert_value(value, key.type, entry, out);
    } else {
      return input_error("{}: {} '{}' needs key '{}' ({}: {})", spec.pos.describe(), kind_name(component.kind),
                         component.name, key.name, key_type_name(key.type), key.doc);
    }
    out.name = entry.name.c_str();
    storage->values.push_back(out);
  }
  storage->config.struct_size = sizeof(llmrt_config);
  storage->config.values = storage->values.data();
  storage->config.count = storage->values.size();
  return ResolvedConfig(std::move(storage));
}

Result<ResolvedConfig> resolve_default_config(const Component& component) {
  ComponentSpec spec;
  spec.component.value = component.name;
  spec.pos.key_path = component.name;
  return resolve_component_config(component, spec);
}

}  // namespace llmrt
