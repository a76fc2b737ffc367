#include "config/config_document.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "config/schema.h"
#include "util/file_checks.h"
#include "util/strings.h"

namespace llmrt {
namespace fs = std::filesystem;

SourcePos position_of(const toml::node& node, std::string key_path) {
  SourcePos pos;
  pos.key_path = std::move(key_path);
  const toml::source_region& source = node.source();
  if (source.path) pos.file = *source.path;
  if (pos.file.rfind("--set", 0) == 0) {
    pos.file = "--set";  // an override has no useful line or column
  } else {
    pos.line = static_cast<int>(source.begin.line);
    pos.column = static_cast<int>(source.begin.column);
  }
  return pos;
}

namespace {

// Tables merge key by key; anything else in `overlay` replaces what `base` had.
void merge_into(toml::table& base, toml::table&& overlay) {
  for (auto&& [key, node] : overlay) {
    toml::node* existing = base.get(key);
    if (existing && existing->is_table() && node.is_table()) {
      merge_into(*existing->as_table(), std::move(*node.as_table()));
    } else {
      base.insert_or_assign(key, std::move(node));
    }
  }
}

// A config is a small text file. Anything else — a FIFO or device (which would block or never
// end), a directory, a file of many MiB — is refused before a byte is read.
constexpr std::uintmax_t kMaxConfigBytes = 4u << 20;

Status check_config_file(const fs::path& file, const std::string& shown_path) {
  struct stat info {};
  if (::stat(file.c_str(), &info) != 0) {
    return input_error("{}: cannot open the config file: {}", shown_path, std::strerror(errno));
  }
  if (const char* kind = non_regular_kind(info.st_mode)) {
    return input_error("{}: expected a regular TOML file, found {}", shown_path, kind);
  }
  if (const auto bytes = static_cast<std::uintmax_t>(info.st_size); bytes > kMaxConfigBytes) {
    return input_error("{}: {} bytes; a config is at most {} MiB (is this the right file?)", shown_path, bytes,
                       kMaxConfigBytes >> 20);
  }
  return Status::success();
}

Result<toml::table> parse_toml_file(const fs::path& file, const std::string& shown_path) {
  LLMRT_RETURN_IF_ERROR(check_config_file(file, shown_path));
  std::ifstream stream(file, std::ios::binary);
  if (!stream) return input_error("{}: cannot open the config file: {}", shown_path, std::strerror(errno));
  std::stringstream text;
  text << stream.rdbuf();
  try {
    return toml::parse(text.str(), shown_path);
  } catch (const toml::parse_error& error) {
    const auto& begin = error.source().begin;
    return input_error("{}:{}:{}: malformed TOML: {}", shown_path, begin.line, begin.column, error.description());
  }
}

// fs::weakly_canonical, with a path the OS refuses (a name over 255 bytes: "File name too long")
// an input error rather than a filesystem_error thrown out of the loader (found by tests/fuzz).
Result<fs::path> resolve_path(const fs::path& path, const std::string& shown_path) {
  std::error_code error;
  fs::path resolved = fs::weakly_canonical(path, error);
  if (error) return input_error("{}: cannot resolve the path: {}", shown_path, error.message());
  return resolved;
}

// A file being read: its canonical path (for cycles) and how messages name it — as the user
// wrote it, an include joined to the including file's shown folder.
struct ConfigFile {
  fs::path canonical;
  std::string shown;
};

Result<toml::table> load_with_includes(const ConfigFile& file, std::vector<ConfigFile>& include_stack);

Result<toml::table> merge_includes(toml::table& including, const ConfigFile& file,
                                   std::vector<ConfigFile>& include_stack) {
  toml::node* include_node = including.get("include");
  toml::table merged;
  if (!include_node) return merged;
  const toml::array* includes = include_node->as_array();
  if (!includes) {
    return input_error("{}: expected an array of file names, e.g. include = [\"cluster.toml\"]",
                       position_of(*include_node, "include").describe());
  }
  for (std::size_t i = 0; i < includes->size(); ++i) {
    const toml::node& entry = *includes->get(i);
    const SourcePos pos = position_of(entry, fmt::format("include[{}]", i));
    const auto* name = entry.as_string();
    if (!name) return input_error("{}: expected a file name string", pos.describe());
    const std::string shown = (fs::path(file.shown).parent_path() / name->get()).lexically_normal().string();
    LLMRT_ASSIGN_OR_RETURN(fs::path canonical, resolve_path(file.canonical.parent_path() / name->get(),
                                                            fmt::format("{}: {}", pos.describe(), shown)));
    const ConfigFile target{std::move(canonical), shown};
    auto same_file = [&](const ConfigFile& open) { return open.canonical == target.canonical; };
    if (std::any_of(include_stack.begin(), include_stack.end(), same_file)) {
      std::vector<std::string> cycle;
      for (const auto& open : include_stack) cycle.push_back(open.shown);
      cycle.push_back(target.shown);
      return input_error("{}: include cycle: {}", pos.describe(), join(cycle, " -> "));
    }
    std::error_code missing;
    if (!fs::exists(target.canonical, missing)) {
      return input_error("{}: included file '{}' does not exist (looked for {})", pos.describe(), name->get(),
                         target.shown);
    }
    LLMRT_ASSIGN_OR_RETURN(auto included, load_with_includes(target, include_stack));
    merge_into(merged, std::move(included));
  }
  including.erase("include");
  return merged;
}

Result<toml::table> load_with_includes(const ConfigFile& file, std::vector<ConfigFile>& include_stack) {
  LLMRT_ASSIGN_OR_RETURN(auto parsed, parse_toml_file(file.canonical, file.shown));
  include_stack.push_back(file);
  auto merged = merge_includes(parsed, file, include_stack);
  include_stack.pop_back();
  if (!merged) return merged.error();
  merge_into(*merged, std::move(parsed));
  return std::move(*merged);
}

}  // namespace

Result<ConfigDocument> load_config_document(const std::string& path) {
  std::error_code missing;
  if (!fs::exists(path, missing)) {
    return input_error("{}: the config file does not exist{}", path, missing ? ": " + missing.message() : "");
  }
  std::vector<ConfigFile> include_stack;
  LLMRT_ASSIGN_OR_RETURN(fs::path canonical, resolve_path(path, path));
  LLMRT_ASSIGN_OR_RETURN(auto root, load_with_includes(ConfigFile{std::move(canonical), path}, include_stack));
  return ConfigDocument{path, std::move(root)};
}

}  // namespace llmrt
