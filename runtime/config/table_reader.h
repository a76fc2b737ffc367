// Typed access to one table of the config, with the first error remembered: a section's
// reader asks for every key it needs, then checks status() once. Messages name the file,
// line:column and key path, and say what was expected and what was found.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <toml++/toml.h>

#include "config/spec.h"
#include "util/status.h"

namespace llmrt {

// The first error seen by any reader of one document.
class ErrorSink {
 public:
  void report(Error error) {
    if (!first_) first_ = std::move(error);
  }
  bool failed() const { return first_.has_value(); }
  Status status() const { return first_ ? Status(*first_) : Status::success(); }

 private:
  std::optional<Error> first_;
};

class TableReader {
 public:
  // `table` may be null: the section is absent and every key takes its default.
  TableReader(const toml::table* table, std::string path, SourcePos pos, ErrorSink& sink);

  const std::string& path() const { return path_; }
  const SourcePos& pos() const { return pos_; }
  bool present() const { return table_ != nullptr; }
  bool has(std::string_view key) const;
  std::vector<std::string> keys() const;  // in the order written
  SourcePos pos_of(std::string_view key) const;  // the key's position, or the table's
  std::string key_path(std::string_view key) const;

  std::optional<std::string> string(std::string_view key);
  std::optional<std::int64_t> integer(std::string_view key);
  std::optional<double> number(std::string_view key);  // integers accepted
  std::optional<bool> boolean(std::string_view key);
  std::optional<std::vector<std::string>> strings(std::string_view key);
  std::optional<std::vector<std::int64_t>> integers(std::string_view key);

  // With defaults and checks; a missing required key is an error naming the table.
  std::string string_or(std::string_view key, std::string fallback);
  std::string required_string(std::string_view key, std::string_view what);
  std::int64_t positive_or(std::string_view key, std::int64_t fallback);   // > 0
  std::int64_t nonnegative_or(std::string_view key, std::int64_t fallback);  // >= 0
  std::int64_t required_positive(std::string_view key, std::string_view what);
  // The same for keys that land in an int: a value past INT_MAX is an error, never a wrap.
  int positive_int_or(std::string_view key, int fallback);
  int required_positive_int(std::string_view key, std::string_view what);
  // A count read above that may not pass `limit` (config/limits.h): "expected at most LIMIT (WHAT), found V".
  void check_at_most(std::string_view key, std::int64_t value, std::int64_t limit, std::string_view what);
  double positive_number_or(std::string_view key, double fallback);        // > 0
  double nonnegative_number_or(std::string_view key, double fallback);     // >= 0
  // One of `choices`, e.g. {"nvlink", "pcie"}; returns the index.
  int choice_or(std::string_view key, const std::vector<std::string>& choices, int fallback);

  // Sub-tables and arrays of tables.
  TableReader table(std::string_view key);
  std::vector<TableReader> tables(std::string_view key);
  // One table where a list of them may stand: gpus = { ... } or gpus = [ { ... }, { ... } ].
  std::vector<TableReader> tables_or_table(std::string_view key);
  const toml::node* node(std::string_view key) const;

  void fail(std::string_view key, std::string message);  // reports "pos: path: message"
  ErrorSink& sink() { return *sink_; }

 private:
  const toml::table* table_;
  std::string path_;
  SourcePos pos_;
  ErrorSink* sink_;
};

// Starts a reader at the top of the document.
TableReader root_reader(const toml::table& root, const std::string& file, ErrorSink& sink);

// The largest value an int-typed key may hold (counts, degrees, sizes: all far below it).
inline constexpr std::int64_t kMaxIntKey = 2147483647;

// "a string \"8\"", "an integer 0" ...: what was found, for messages.
std::string describe_found(const toml::node& node);

}  // namespace llmrt
