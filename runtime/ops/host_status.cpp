// Status objects are allocated here and only here, so a plugin never frees memory another
// allocator made.
#include "ops/host_status.h"

#include <new>

namespace llmrt {

llmrt_status* host_status_new(std::int32_t code, const char* message) {
  // A plugin may pass LLMRT_OK by mistake; it still means "failed" once returned.
  return new (std::nothrow) llmrt_status{code, message != nullptr ? message : ""};
}
std::int32_t host_status_code(const llmrt_status* status) { return status != nullptr ? status->code : LLMRT_OK; }
const char* host_status_message(const llmrt_status* status) { return status != nullptr ? status->message.c_str() : ""; }
void host_status_free(llmrt_status* status) { delete status; }

}  // namespace llmrt
