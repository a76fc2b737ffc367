// The checks between a path and a registered plugin, in the order they can be made safely:
// the file system first, then the ELF header, then the dynamic loader, then the identity the
// plugin reports, and only then its own registration code.
#include "plugin/plugin_loader.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <filesystem>
#include <vector>

#include <llmrt/plugin.h>

#include "plugin/plugin_guard.h"
#include "plugin/plugin_identity.h"
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

Status load_checked_file(Registry& registry, const std::string& path, const LoadOptions& options) {
  if (!options.allow_insecure) {
    LLMRT_RETURN_IF_ERROR(check_not_writable_by_others(path, "file"));
    LLMRT_RETURN_IF_ERROR(check_not_writable_by_others(fs::path(path).parent_path().string(), "directory"));
  }
  LLMRT_RETURN_IF_ERROR(check_elf_file(path));
  // RTLD_LOCAL keeps one plugin's symbols from resolving another's; the handle is kept (never
  // dlclose'd) because unloading code with live static/TLS destructors crashes.
  void* handle = nullptr;
  {
    // Its static constructors run here: a crash, exit or hang in them names this file.
    const PluginCallScope scope(path, "", "loading", "dlopen: its static constructors");
    handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  }
  rearm_plugin_exit_hook();
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
  LLMRT_RETURN_IF_ERROR(check_plugin_identity(identity));
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
