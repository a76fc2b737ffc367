// Resources kept per GPU stream handle by code that must not know the device layer (the op
// table's cuBLASLt contexts, runtime/ops/host_ops_cuda.cpp) are freed when their stream is: the
// device's stream object calls stream_retired(handle) after its work is done and before the
// handle is destroyed (and may be handed out again to a new stream). Header-only: one registry
// for the process (an inline function's static).
#pragma once

#include <algorithm>
#include <mutex>
#include <vector>

namespace llmrt {

// Frees what its owner keeps for `stream` (a cudaStream_t); must not throw.
using StreamRetiredHook = void (*)(const void* stream) noexcept;

namespace detail {
struct StreamRetiredHooks {
  std::mutex mutex;
  std::vector<StreamRetiredHook> hooks;
};
inline StreamRetiredHooks& stream_retired_hooks() {
  static auto* hooks = new StreamRetiredHooks();  // leaked: streams may be destroyed at exit
  return *hooks;
}
}  // namespace detail

// Registers `hook` once (a second call with the same hook does nothing).
inline void add_stream_retired_hook(StreamRetiredHook hook) {
  auto& registry = detail::stream_retired_hooks();
  std::lock_guard lock(registry.mutex);
  if (std::find(registry.hooks.begin(), registry.hooks.end(), hook) == registry.hooks.end()) {
    registry.hooks.push_back(hook);
  }
}

// `stream`'s work is done and it is about to be destroyed: every hook frees what it keeps for it.
inline void stream_retired(const void* stream) noexcept {
  auto& registry = detail::stream_retired_hooks();
  std::vector<StreamRetiredHook> hooks;
  {
    std::lock_guard lock(registry.mutex);
    hooks = registry.hooks;
  }
  for (StreamRetiredHook hook : hooks) hook(stream);
}

}  // namespace llmrt
