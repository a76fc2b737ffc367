#include "config/table_reader.h"

#include "config/config_document.h"
#include "util/strings.h"

namespace llmrt {

TableReader::TableReader(const toml::table* table, std::string path, SourcePos pos, ErrorSink& sink)
    : table_(table), path_(std::move(path)), pos_(std::move(pos)), sink_(&sink) {
  pos_.key_path = path_;
}

TableReader root_reader(const toml::table& root, const std::string& file, ErrorSink& sink) {
  SourcePos pos;
  pos.file = file;
  return TableReader(&root, "", pos, sink);
}

std::string describe_found(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string: return fmt::format("the string \"{}\"", node.as_string()->get());
    case toml::node_type::integer: return fmt::format("the integer {}", node.as_integer()->get());
    case toml::node_type::floating_point: return fmt::format("the number {}", node.as_floating_point()->get());
    case toml::node_type::boolean: return fmt::format("the boolean {}", node.as_boolean()->get());
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    default: return "a date or time";
  }
}

bool TableReader::has(std::string_view key) const { return node(key) != nullptr; }

std::vector<std::string> TableReader::keys() const {
  std::vector<std::string> names;
  if (table_) {
    for (auto&& [key, value] : *table_) names.emplace_back(key.str());
  }
  return names;
}

const toml::node* TableReader::node(std::string_view key) const { return table_ ? table_->get(key) : nullptr; }

std::string TableReader::key_path(std::string_view key) const {
  return path_.empty() ? std::string(key) : fmt::format("{}.{}", path_, key);
}

SourcePos TableReader::pos_of(std::string_view key) const {
  const toml::node* found = node(key);
  if (found) return position_of(*found, key_path(key));
  SourcePos pos = pos_;
  pos.key_path = key_path(key);
  return pos;
}

void TableReader::fail(std::string_view key, std::string message) {
  sink_->report(input_error("{}: {}", pos_of(key).describe(), message));
}

std::optional<std::string> TableReader::string(std::string_view key) {
  const toml::node* found = node(key);
  if (!found) return std::nullopt;
  if (const auto* value = found->as_string()) return value->get();
  fail(key, fmt::format("expected a string, found {}", describe_found(*found)));
  return std::nullopt;
}

std::optional<std::int64_t> TableReader::integer(std::string_view key) {
  const toml::node* found = node(key);
  if (!found) return std::nullopt;
  if (const auto* value = found->as_integer()) return value->get();
  fail(key, fmt::format("expected an integer, found {}", describe_found(*found)));
  return std::nullopt;
}

std::optional<double> TableReader::number(std::string_view key) {
  const toml::node* found = node(key);
  if (!found) return std::nullopt;
  if (const auto* value = found->as_floating_point()) return value->get();
  if (const auto* value = found->as_integer()) return static_cast<double>(value->get());
  fail(key, fmt::format("expected a number, found {}", describe_found(*found)));
  return std::nullopt;
}

std::optional<bool> TableReader::boolean(std::string_view key) {
  const toml::node* found = node(key);
  if (!found) return std::nullopt;
  if (const auto* value = found->as_boolean()) return value->get();
  fail(key, fmt::format("expected true or false, found {}", describe_found(*found)));
  return std::nullopt;
}

std::optional<std::vector<std::string>> TableReader::strings(std::string_view key) {
  const toml::node* found = node(key);
  if (!found) return std::nullopt;
  const toml::array* array = found->as_array();
  std::vector<std::string> values;
  for (std::size_t i = 0; array && i < array->size(); ++i) {
    const auto* value = array->get(i)->as_string();
    if (!value) {
      sink_->report(input_error("{}: expected a string, found {}",
                                position_of(*array->get(i), fmt::format("{}[{}]", key_path(key), i)).describe(),
                                describe_found(*array->get(i))));
      return std::nullopt;
    }
    values.push_back(value->get());
  }
  if (!array) {
    fail(key, fmt::format("expected an array of strings, found {}", describe_found(*found)));
    return std::nullopt;
  }
  return values;
}

std::optional<std::vector<std::int64_t>> TableReader::integers(std::string_view key) {
  const toml::node* found = node(key);
  if (!found) return std::nullopt;
  const toml::array* array = found->as_array();
  if (!array) {
    fail(key, fmt::format("expected an array of integers, found {}", describe_found(*found)));
    return std::nullopt;
  }
  std::vector<std::int64_t> values;
  for (std::size_t i = 0; i < array->size(); ++i) {
    const auto* value = array->get(i)->as_integer();
    if (!value) {
      sink_->report(input_error("{}: expected an integer, found {}",
                                position_of(*array->get(i), fmt::format("{}[{}]", key_path(key), i)).describe(),
                                describe_found(*array->get(i))));
      return std::nullopt;
    }
    values.push_back(value->get());
  }
  return values;
}

std::string TableReader::string_or(std::string_view key, std::string fallback) {
  return string(key).value_or(std::move(fallback));
}

std::string TableReader::required_string(std::string_view key, std::string_view what) {
  if (!has(key)) {
    fail(key, fmt::format("missing required key '{}' ({})", key, what));
    return {};
  }
  return string(key).value_or("");
}

std::int64_t TableReader::positive_or(std::string_view key, std::int64_t fallback) {
  const auto value = integer(key);
  if (value && *value <= 0) fail(key, fmt::format("expected a positive integer, found {}", *value));
  return value.value_or(fallback);
}

std::int64_t TableReader::nonnegative_or(std::string_view key, std::int64_t fallback) {
  const auto value = integer(key);
  if (value && *value < 0) fail(key, fmt::format("expected an integer >= 0, found {}", *value));
  return value.value_or(fallback);
}

std::int64_t TableReader::required_positive(std::string_view key, std::string_view what) {
  if (!has(key)) {
    fail(key, fmt::format("missing required key '{}' ({})", key, what));
    return 1;
  }
  return positive_or(key, 1);
}

int TableReader::positive_int_or(std::string_view key, int fallback) {
  const std::int64_t value = positive_or(key, fallback);
  if (value > kMaxIntKey) {
    fail(key, fmt::format("expected a positive integer of at most {}, found {}", kMaxIntKey, value));
    return fallback;
  }
  return static_cast<int>(value);
}

int TableReader::required_positive_int(std::string_view key, std::string_view what) {
  if (!has(key)) {
    fail(key, fmt::format("missing required key '{}' ({})", key, what));
    return 1;
  }
  return positive_int_or(key, 1);
}

void TableReader::check_at_most(std::string_view key, std::int64_t value, std::int64_t limit, std::string_view what) {
  if (value > limit) fail(key, fmt::format("expected at most {} ({}), found {}", limit, what, value));
}

double TableReader::positive_number_or(std::string_view key, double fallback) {
  const auto value = number(key);
  if (value && !(*value > 0)) fail(key, fmt::format("expected a positive number, found {}", *value));
  return value.value_or(fallback);
}

double TableReader::nonnegative_number_or(std::string_view key, double fallback) {
  const auto value = number(key);
  if (value && !(*value >= 0)) fail(key, fmt::format("expected a number >= 0, found {}", *value));
  return value.value_or(fallback);
}

int TableReader::choice_or(std::string_view key, const std::vector<std::string>& choices, int fallback) {
  const auto value = string(key);
  if (!value) return fallback;
  for (std::size_t i = 0; i < choices.size(); ++i) {
    if (choices[i] == *value) return static_cast<int>(i);
  }
  std::string message = fmt::format("expected one of {}, found \"{}\"", join(choices, " | "), *value);
  const std::string suggestion = closest_match(*value, choices);
  if (!suggestion.empty()) message += fmt::format("; did you mean \"{}\"?", suggestion);
  fail(key, message);
  return fallback;
}

TableReader TableReader::table(std::string_view key) {
  const toml::node* found = node(key);
  if (found && !found->is_table()) {
    fail(key, fmt::format("expected a table, found {}", describe_found(*found)));
    found = nullptr;
  }
  SourcePos pos = found ? position_of(*found, key_path(key)) : pos_;
  return TableReader(found ? found->as_table() : nullptr, key_path(key), pos, *sink_);
}

std::vector<TableReader> TableReader::tables_or_table(std::string_view key) {
  const toml::node* found = node(key);
  if (found && found->is_table()) return {table(key)};
  return tables(key);
}

std::vector<TableReader> TableReader::tables(std::string_view key) {
  std::vector<TableReader> readers;
  const toml::node* found = node(key);
  if (!found) return readers;
  const toml::array* array = found->as_array();
  if (!array) {
    fail(key, fmt::format("expected an array of tables ([[{}]]), found {}", key_path(key), describe_found(*found)));
    return readers;
  }
  for (std::size_t i = 0; i < array->size(); ++i) {
    const std::string element_path = fmt::format("{}[{}]", key_path(key), i);
    const toml::node& element = *array->get(i);
    if (!element.is_table()) {
      sink_->report(input_error("{}: expected a table, found {}", position_of(element, element_path).describe(),
                                describe_found(element)));
      continue;
    }
    readers.emplace_back(element.as_table(), element_path, position_of(element, element_path), *sink_);
  }
  return readers;
}

}  // namespace llmrt
