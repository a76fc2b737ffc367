#include "comm/nccl_library.h"

#include <dlfcn.h>

#include <cstdlib>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace llmrt {
namespace {

template <class Fn>
Status bind(void* library, const char* name, Fn& slot, const std::string& path) {
  slot = reinterpret_cast<Fn>(dlsym(library, name));
  if (slot == nullptr) return runtime_error("{} has no {} (not an NCCL library, or one older than 2.19)", path, name);
  return Status::success();
}

}  // namespace

Result<NcclApi> load_nccl_from(const std::string& path) {
  // Never closed: NCCL keeps threads and state for the process's life.
  void* library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) {
    const char* why = dlerror();
    return runtime_error("cannot load NCCL from {}: {}", path, why != nullptr ? why : "unknown reason");
  }
  NcclApi api;
  api.path = path;
  LLMRT_RETURN_IF_ERROR(bind(library, "ncclGetErrorString", api.GetErrorString, path));
  LLMRT_RETURN_IF_ERROR(bind(library, "ncclGetLastError", api.GetLastError, path));
  LLMRT_RETURN_IF_ERROR(bind(library, "ncclGetUniqueId", api.GetUniqueId, path));
  LLMRT_RETURN_IF_ERROR(bind(library, "ncclCommInitRank", api.CommInitRank, path));
  LLMRT_RETURN_IF_ERROR(bind(library, "ncclCommDestroy", api.CommDestroy, path));
  LLMRT_RETURN_IF_ERROR(bind(library, "ncclCommAbort", api.CommAbort, path));
  LLMRT_RETURN_IF_ERROR(bind(library, "ncclAllReduce", api.AllReduce, path));
  LLMRT_RETURN_IF_ERROR(bind(library, "ncclAllGather", api.AllGather, path));
  LLMRT_RETURN_IF_ERROR(bind(library, "ncclReduceScatter", api.ReduceScatter, path));
  LLMRT_RETURN_IF_ERROR(bind(library, "ncclBroadcast", api.Broadcast, path));
  LLMRT_RETURN_IF_ERROR(bind(library, "ncclSend", api.Send, path));
  LLMRT_RETURN_IF_ERROR(bind(library, "ncclRecv", api.Recv, path));
  LLMRT_RETURN_IF_ERROR(bind(library, "ncclGroupStart", api.GroupStart, path));
  LLMRT_RETURN_IF_ERROR(bind(library, "ncclGroupEnd", api.GroupEnd, path));
  decltype(&ncclGetVersion) get_version = nullptr;
  LLMRT_RETURN_IF_ERROR(bind(library, "ncclGetVersion", get_version, path));
  if (get_version(&api.version) != ncclSuccess) return runtime_error("{}: ncclGetVersion failed", path);
  return api;
}

Result<const NcclApi*> nccl_api() {
  static const Result<NcclApi> loaded = []() -> Result<NcclApi> {
    if (const char* chosen = std::getenv("LLMRT_NCCL_LIBRARY"); chosen != nullptr && chosen[0] != '\0') {
      auto api = load_nccl_from(chosen);
      if (!api.ok()) return api.error().with_context("LLMRT_NCCL_LIBRARY");
      return api;
    }
    std::vector<std::string> tried;
    for (const std::string& candidate : {std::string("libnccl.so.2"), std::string(LLMRT_NCCL_BUILD_LIBRARY)}) {
      auto api = load_nccl_from(candidate);
      if (api.ok()) return api;
      tried.push_back(api.error().message());
    }
    return runtime_error("NCCL is not available: {}", fmt::join(tried, "; "));
  }();
  if (!loaded.ok()) return loaded.error();
  return &*loaded;
}

}  // namespace llmrt
