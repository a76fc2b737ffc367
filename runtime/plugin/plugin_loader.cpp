// The checks between a path and a registered plugin, in the order they can be made safely:
// the file system first, then the ELF header, then the dynamic loader, then the identity the
// plugin reports, and only then its own registration code.
#include "plugin/plugin_loader.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <vector>

#include <llmrt/plugin.h>

#include "plugin/plugin_guard.h"
#include "util/strings.h"

namespace llmrt {
namespace {

namespace fs = std::filesystem;

Status check_not_writable_by_others(const std::string& path, const char* what) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return input_error("cannot stat {} {}", what, path);
  if ((info.st_mode & S_IWOTH) != 0) {
    return input_error("refused: the plugin {} {} is writable by others (mode {:04o}, expected no o+w); "
                       "run chmod o-w on it, or pass --allow-insecure-plugins",
                       what, path, info.st_mode & 07777);
  }
  return Status::success();
}

Status check_elf(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  char magic[4] = {};
  file.read(magic, sizeof(magic));
  if (file.gcount() != 4 || magic[0] != 0x7f || magic[1] != 'E' || magic[2] != 'L' || magic[3] != 'F') {
    std::string found;
    for (int i = 0; i < file.gcount(); ++i) found += fmt::format("{:02x}", static_cast<unsigned char>(magic[i]));
    return input_error("not an ELF shared object: expected the bytes 7f454c46 ('\\x7fELF') at the start, found '{}'",
                       found);
  }
  return Status::success();
}

// The entry symbol of our major, or the error that says why there is none.
Result<llmrt_plugin_entry_fn> find_entry(void* handle) {
  if (void* entry = ::dlsym(handle, LLMRT_PLUGIN_ENTRY_SYMBOL)) {
    return reinterpret_cast<llmrt_plugin_entry_fn>(entry);
  }
  // A plugin of another major exports another symbol; name it so the fix is obvious.
  for (int major = 2; major <= 9; ++major) {
    const std::string symbol = fmt::format("llmrt_plugin_entry_v{}", major);
    if (::dlsym(handle, symbol.c_str()) != nullptr) {
      return input_error("ABI major: expected {} (symbol {}), found {} (symbol {}); rebuild the plugin "
                         "against this llmrt's SDK", LLMRT_ABI_MAJOR, LLMRT_PLUGIN_ENTRY_SYMBOL, major, symbol);
    }
  }
  return input_error("entry symbol {}: expected it to be exported, found no such symbol (not an llmrt plugin; "
                     "define it with LLMRT_PLUGIN or export it from C)", LLMRT_PLUGIN_ENTRY_SYMBOL);
}

// Every identity field that does not fit this host, as "identity.field: expected X, found Y".
Status check_identity(const llmrt_plugin_identity* id) {
  if (id == nullptr) return input_error("{} returned NULL: expected its identity", LLMRT_PLUGIN_ENTRY_SYMBOL);
  if (id->magic != LLMRT_PLUGIN_MAGIC) {
    return input_error("identity.magic: expected 0x{:08X}, found 0x{:08X}", LLMRT_PLUGIN_MAGIC, id->magic);
  }
  const std::size_t needed = LLMRT_STRUCT_SIZE(llmrt_plugin_identity, register_components);
  if (id->struct_size < needed) {
    return input_error("identity.struct_size: expected at least {}, found {}", needed, id->struct_size);
  }
  std::vector<std::string> problems;
  if (id->abi_major != LLMRT_ABI_MAJOR) {
    problems.push_back(fmt::format("identity.abi_major: expected {}, found {}", LLMRT_ABI_MAJOR, id->abi_major));
  }
  if (id->min_host_minor > LLMRT_ABI_MINOR) {
    problems.push_back(fmt::format("identity.min_host_minor: expected at most {} (this host's ABI minor), found {} "
                                   "(the plugin needs a newer llmrt)", LLMRT_ABI_MINOR, id->min_host_minor));
  }
  if (id->pointer_size != sizeof(void*)) {
    problems.push_back(fmt::format("identity.pointer_size: expected {}, found {}", sizeof(void*), id->pointer_size));
  }
  const std::pair<const char*, const char*> strings[] = {
      {"name", id->name}, {"version", id->version}, {"build_id", id->build_id}};
  for (const auto& [field, value] : strings) {
    if (value == nullptr || value[0] == '\0') {
      problems.push_back(fmt::format("identity.{}: expected a non-empty string, found {}", field,
                                     value == nullptr ? "NULL" : "\"\""));
    }
  }
  if (id->register_components == nullptr) {
    problems.push_back("identity.register_components: expected a function, found NULL");
  }
  if (!problems.empty()) return input_error("{}", join(problems, "; "));
  return Status::success();
}

Status load_checked_file(Registry& registry, const std::string& path, const LoadOptions& options) {
  if (!options.allow_insecure) {
    LLMRT_RETURN_IF_ERROR(check_not_writable_by_others(path, "file"));
    LLMRT_RETURN_IF_ERROR(check_not_writable_by_others(fs::path(path).parent_path().string(), "directory"));
  }
  LLMRT_RETURN_IF_ERROR(check_elf(path));
  // RTLD_LOCAL keeps one plugin's symbols from resolving another's; the handle is kept (never
  // dlclose'd) because unloading code with live static/TLS destructors crashes.
  void* handle = nullptr;
  {
    // Its static constructors run here: a crash, exit or hang in them names this file.
    const PluginCallScope scope(path, "", "loading", "dlopen: its static constructors");
    handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  }
  if (handle == nullptr) {
    const char* reason = ::dlerror();
    return input_error("dlopen failed: {}", reason != nullptr ? reason : "unknown reason");
  }
  LLMRT_ASSIGN_OR_RETURN(auto entry, find_entry(handle));
  const llmrt_plugin_identity* identity = nullptr;
  {
    const PluginCallScope scope(path, "", "loading", "its entry function " LLMRT_PLUGIN_ENTRY_SYMBOL);
    identity = entry();
  }
  LLMRT_RETURN_IF_ERROR(check_identity(identity));
  LoadedPlugin plugin{path, identity->name, identity->version, identity->build_id, identity->abi_major,
                      identity->abi_minor};
  const PluginCallScope scope(path, "", "registration", "register_components");
  return registry.register_plugin(std::move(plugin), *identity);
}

}  // namespace

Status load_plugin_file(Registry& registry, const std::string& path, const LoadOptions& options) {
  install_plugin_guard();  // before any plugin code runs
  std::error_code error;
  const fs::file_status status = fs::status(path, error);
  if (!fs::exists(status)) return input_error("plugin {}: file not found", path);
  if (!fs::is_regular_file(status)) return input_error("plugin {}: expected a regular file (a .so), found something else", path);
  const std::string canonical = fs::canonical(path, error).string();
  if (error) return input_error("plugin {}: cannot resolve the path: {}", path, error.message());
  if (registry.has_plugin_path(canonical)) return Status::success();
  LLMRT_RETURN_IF_ERROR_CTX(load_checked_file(registry, canonical, options), "plugin {}", canonical);
  return Status::success();
}

}  // namespace llmrt
