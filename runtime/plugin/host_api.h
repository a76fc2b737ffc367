// The host service table every plugin receives (statuses, logging, memory, collectives, RNG),
// and the glue that turns a plugin's llmrt_status into an llmrt::Error.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <llmrt/plugin.h>

#include "util/status.h"

namespace llmrt {

// The table passed to every plugin; lives for the process. Until the comm layer installs its
// own, the collective slots implement a group of size 1 (rank 0 of 1: copies).
const llmrt_host_api* plugin_host_api();

// Lets the comm layer replace the collective slots (comm_info, all_reduce, all_gather,
// reduce_scatter, broadcast) before any plugin runs.
llmrt_host_api& mutable_plugin_host_api();

// The seed of the run's RNG stream handed out by rng_reserve (offsets restart at 0).
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

// Bytes per element of a dtype; 0 for an unknown one.
std::size_t dtype_size(std::int32_t dtype);
std::string_view dtype_name(std::int32_t dtype);

}  // namespace llmrt
