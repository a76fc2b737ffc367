// `llmrt plugins new`: copies one kind's template folder into a new project folder, with the
// component's name substituted into file names and text. The templates are ordinary files in
// share/templates/KIND (built and tested by tests/plugin/plugin_new_test.cpp), not strings here.
#include "plugin/plugin_new.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "plugin/plugin_search.h"
#include "util/strings.h"

#ifndef LLMRT_SOURCE_TEMPLATE_DIR
#define LLMRT_SOURCE_TEMPLATE_DIR ""
#endif
#ifndef LLMRT_INSTALL_TEMPLATE_RELDIR
#define LLMRT_INSTALL_TEMPLATE_RELDIR "../share/llmrt/templates"
#endif
#ifndef LLMRT_SDK_VERSION
#define LLMRT_SDK_VERSION "0.1"
#endif

namespace llmrt {
namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kKinds = {"layer", "optimizer", "lr", "schedule"};
constexpr std::size_t kMaxNameLength = 64;

// "acme.rmsnorm": two or more parts joined by '.', each [a-z][a-z0-9_]*. It names the component
// and, with '.' as '_', the C++ identifiers, the CMake target and the files.
bool is_component_name(const std::string& name) {
  if (name.empty() || name.size() > kMaxNameLength || name.find('.') == std::string::npos) return false;
  bool part_start = true;
  for (const char c : name) {
    if (c == '.') {
      if (part_start) return false;  // an empty part: "acme..x", ".x"
      part_start = true;
      continue;
    }
    const bool lower = c >= 'a' && c <= 'z', digit = c >= '0' && c <= '9';
    if (part_start ? !lower : !(lower || digit || c == '_')) return false;
    part_start = false;
  }
  return !part_start;
}

// DIR as an absolute path naming the folder itself: "out/", "." and "a/.." have no file name
// after normalising, so their trailing separator goes (the folder is then the path's last part).
fs::path target_dir(const std::string& dir) {
  fs::path path = fs::absolute(dir).lexically_normal();
  while (!path.has_filename() && path.has_parent_path() && path != path.root_path()) path = path.parent_path();
  return path;
}

Status check_request(const NewPluginRequest& request) {
  if (std::find(kKinds.begin(), kKinds.end(), request.kind) == kKinds.end()) {
    const std::string suggestion = closest_match(request.kind, kKinds);
    return input_error("plugins new: --kind '{}': expected one of {}{}", request.kind, join(kKinds, ", "),
                       suggestion.empty() ? std::string() : fmt::format(" (did you mean '{}'?)", suggestion));
  }
  if (!is_component_name(request.name)) {
    return input_error("plugins new: NAME '{}': expected a component name like acme.rmsnorm: two or more parts "
                       "joined by '.', each a lowercase letter followed by lowercase letters, digits or '_', at most "
                       "{} characters (it becomes the component's name, and with '_' for '.' its C++ identifiers "
                       "and file names)", request.name, kMaxNameLength);
  }
  if (request.dir.empty()) return input_error("plugins new: DIR is empty: name the folder to create");
  std::error_code error;
  const fs::file_status status = fs::status(request.dir, error);
  if (fs::exists(status)) {
    if (!fs::is_directory(status)) {
      return input_error("plugins new: DIR '{}' exists and is not a folder: name a new folder", request.dir);
    }
    if (!fs::is_empty(request.dir, error) || error) {
      return input_error("plugins new: DIR '{}' exists and is not empty: name a new or empty folder (nothing was "
                         "written)", request.dir);
    }
  }
  const fs::path parent = target_dir(request.dir).parent_path();
  if (!fs::is_directory(parent, error)) {
    return input_error("plugins new: DIR '{}': its parent folder {} does not exist", request.dir, parent.string());
  }
  return Status::success();
}

// A built-in component of the same name would make the new plugin fail to load.
Status check_not_builtin(const std::string& name) {
  PluginSearchOptions builtin;
  builtin.environment_path = "";
  std::vector<BrokenPlugin> broken;
  const Registry registry = load_plugins_listing(builtin, broken);
  if (registry.find(name) != nullptr) {
    return input_error("plugins new: NAME '{}' is a component built into llmrt: choose another name", name);
  }
  return Status::success();
}

std::string substitute(std::string text, const std::map<std::string, std::string>& values) {
  for (const auto& [key, value] : values) {
    const std::string token = "@" + key + "@";
    for (std::size_t at = text.find(token); at != std::string::npos; at = text.find(token, at + value.size())) {
      text.replace(at, token.size(), value);
    }
  }
  return text;
}

// The folder being written; removed with its contents unless the project was moved into place.
class PendingDir {
 public:
  explicit PendingDir(fs::path path) : path_(std::move(path)) {}
  ~PendingDir() {
    std::error_code ignored;
    if (!path_.empty()) fs::remove_all(path_, ignored);
  }
  PendingDir(const PendingDir&) = delete;
  PendingDir& operator=(const PendingDir&) = delete;
  const fs::path& path() const { return path_; }
  void release() { path_.clear(); }

 private:
  fs::path path_;
};

// Moves the finished project into place. A new DIR: one rename(2). An existing empty DIR (".",
// the folder a user made and entered): its entries move in one by one, so the folder itself (maybe
// the shell's working directory) stays; on a failure the entries already moved are taken out again.
Status move_into_place(const fs::path& temp, const fs::path& dir, const std::string& shown) {
  std::error_code error;
  if (!fs::exists(dir, error)) {
    fs::rename(temp, dir, error);
    if (error) return input_error("plugins new: cannot create {}: {}", shown, error.message());
    return Status::success();
  }
  std::vector<fs::path> moved;
  for (const fs::directory_entry& entry : fs::directory_iterator(temp, error)) {
    const fs::path to = dir / entry.path().filename();
    fs::rename(entry.path(), to, error);
    if (error) {
      std::error_code ignored;
      for (const fs::path& done : moved) fs::remove_all(done, ignored);
      return input_error("plugins new: cannot write into {}: {}", shown, error.message());
    }
    moved.push_back(to);
  }
  if (error) return input_error("plugins new: cannot read the project written beside {}: {}", shown, error.message());
  return Status::success();
}

Result<fs::path> make_temp_sibling(const fs::path& dir) {
  std::string pattern = (dir.parent_path() / fmt::format(".{}.new-XXXXXX", dir.filename().string())).string();
  if (mkdtemp(pattern.data()) == nullptr) {
    return input_error("plugins new: cannot create a folder beside {}: {}", dir.string(), std::strerror(errno));
  }
  // mkdtemp makes it private (0700); the project gets the permissions of any new folder.
  const mode_t mask = umask(0);
  umask(mask);
  chmod(pattern.c_str(), 0777 & ~mask);
  return fs::path(pattern);
}

Result<std::string> read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in.good() && !in.eof()) return runtime_error("plugins new: cannot read the template {}", path.string());
  return text.str();
}

Status write_text(const fs::path& path, const std::string& text) {
  std::error_code error;
  fs::create_directories(path.parent_path(), error);
  std::ofstream out(path, std::ios::binary);
  out << text;
  out.close();
  if (error || !out) return runtime_error("plugins new: cannot write {}", path.string());
  return Status::success();
}

// Every template file of the kind, as paths relative to its folder, in name order.
Result<std::vector<fs::path>> template_files(const fs::path& folder) {
  std::error_code error;
  if (!fs::is_directory(folder, error)) {
    return input_error("plugins new: no templates at {} (an installed llmrt has them in share/llmrt/templates: "
                       "install the sdk component)", folder.string());
  }
  std::vector<fs::path> files;
  for (const auto& entry : fs::recursive_directory_iterator(folder, error)) {
    if (entry.is_regular_file()) files.push_back(fs::relative(entry.path(), folder));
  }
  if (error) return runtime_error("plugins new: cannot list {}: {}", folder.string(), error.message());
  std::sort(files.begin(), files.end());
  return files;
}

Status write_project(const fs::path& from, const std::vector<fs::path>& files,
                     const std::map<std::string, std::string>& values, const fs::path& to) {
  for (const fs::path& file : files) {
    LLMRT_ASSIGN_OR_RETURN(const std::string text, read_text(from / file));
    LLMRT_RETURN_IF_ERROR(write_text(to / substitute(file.string(), values), substitute(text, values)));
  }
  return Status::success();
}

// The prefix to give CMake: this llmrt's own when it is installed with its SDK.
std::string sdk_prefix_hint() {
  std::error_code error;
  const fs::path executable = fs::read_symlink("/proc/self/exe", error);
  const fs::path prefix = executable.parent_path().parent_path();
  if (!error && fs::exists(prefix / "include/llmrt/plugin.h", error)) return prefix.string();
  return "<prefix of `cmake --install BUILD --component sdk`>";
}

}  // namespace

std::string plugin_template_root() {
  std::error_code error;
  const fs::path executable = fs::read_symlink("/proc/self/exe", error);
  if (!error) {
    const fs::path installed = executable.parent_path() / LLMRT_INSTALL_TEMPLATE_RELDIR;
    if (fs::is_directory(installed, error)) return fs::weakly_canonical(installed, error).string();
  }
  return LLMRT_SOURCE_TEMPLATE_DIR;
}

Result<std::map<std::string, std::string>> template_values(const std::string& name) {
  if (!is_component_name(name)) return input_error("'{}' is not a component name like acme.rmsnorm", name);
  std::string id = name, class_name;
  std::replace(id.begin(), id.end(), '.', '_');
  bool upper = true;
  for (const char c : id) {
    if (c == '_') {
      upper = true;
      continue;
    }
    class_name += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    upper = false;
  }
  return std::map<std::string, std::string>{
      {"NAME", name}, {"ID", id}, {"CLASS", class_name}, {"SDK_VERSION", LLMRT_SDK_VERSION}};
}

Status new_plugin_project(const NewPluginRequest& request, std::ostream& out) {
  LLMRT_RETURN_IF_ERROR(check_request(request));
  LLMRT_RETURN_IF_ERROR(check_not_builtin(request.name));
  LLMRT_ASSIGN_OR_RETURN(const auto values, template_values(request.name));
  const fs::path from = fs::path(plugin_template_root()) / request.kind;
  LLMRT_ASSIGN_OR_RETURN(const auto files, template_files(from));
  const fs::path dir = target_dir(request.dir);
  LLMRT_ASSIGN_OR_RETURN(const fs::path temp, make_temp_sibling(dir));
  PendingDir pending(temp);  // removed whatever happens: after the move it is empty or gone
  LLMRT_RETURN_IF_ERROR(write_project(from, files, values, temp));
  LLMRT_RETURN_IF_ERROR(move_into_place(temp, dir, request.dir));
  out << fmt::format("wrote {} ({} {}):\n", request.dir, request.kind, request.name);
  for (const fs::path& file : files) out << "  " << substitute(file.string(), values) << "\n";
  out << fmt::format("next (README.md says more):\n  cmake -S {0} -B {0}/build -DCMAKE_PREFIX_PATH={1}\n"
                     "  cmake --build {0}/build\n  LLMRT_PLUGIN_PATH={0}/build llmrt plugins info {2}\n",
                     request.dir, sdk_prefix_hint(), request.name);
  return Status::success();
}

}  // namespace llmrt
