// The host service table every plugin receives (statuses, logging, memory, collectives, RNG),
// and the glue that turns a plugin's llmrt_status into an llmrt::Error.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <llmrt/plugin.h>

#include "device/dtype.h"
#include "util/status.h"

namespace llmrt {

// The table passed to every plugin; lives for the process and is never patched. Its slots hold
// no state of their own: the collective slots dispatch through the llmrt_comm handle they are
// given (the group's Collectives, built by ProcessGroups; NULL is a group of one), the device
// slots through the ComputeDevice of the llmrt_device or stream they are given.
const llmrt_host_api* plugin_host_api();

// The job's state behind the plugins' calls: what llmrt_call_ctx.host_private points at. The
// runtime's calls carry the trainer's, so rng_reserve draws from the job's stream, not a global.
struct PluginJobState {
  explicit PluginJobState(std::uint64_t seed = 0) : rng_seed(seed) {}
  std::uint64_t rng_seed;
  std::atomic<std::uint64_t> rng_offset{0};
  // Full recompute (exec/stage_recompute.cpp): while `replaying`, rng_reserve hands out offsets
  // from replay_offset on, the ones a layer's first forward got, and rng_offset stays put. Set
  // and read by the thread that runs the stage's calls.
  bool replaying = false;
  std::uint64_t replay_offset = 0;
};

// The stream for calls without a context (tests, tools): seed `seed`, offsets restart at 0.
void set_plugin_rng_seed(std::uint64_t seed);

// Frees a status the host received from a plugin.
struct PluginStatusDeleter {
  void operator()(llmrt_status* status) const;
};
using OwnedPluginStatus = std::unique_ptr<llmrt_status, PluginStatusDeleter>;

// Success for NULL; otherwise an Error of `kind` carrying "<context>: <plugin message>",
// and the status is freed.
Status take_plugin_status(llmrt_status* status, std::string_view context,
                          ErrorKind kind = ErrorKind::kRuntime);

// The code and message of a status (for tests and logs); does not free it.
std::int32_t plugin_status_code(const llmrt_status* status);
std::string plugin_status_message(const llmrt_status* status);

}  // namespace llmrt
