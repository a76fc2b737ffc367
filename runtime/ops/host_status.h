// The opaque llmrt_status of the C ABI, defined by the host alone, and the four status slots of
// the host table. Apart from host_api.cpp so that the op table (host_ops*.cpp), which returns
// statuses, builds into a library of its own (llmrt_host_ops) with nothing but the kernels.
#pragma once

#include <llmrt/plugin.h>

#include <cstdint>
#include <string>

struct llmrt_status {
  std::int32_t code;
  std::string message;
};

namespace llmrt {
llmrt_status* host_status_new(std::int32_t code, const char* message);  // copies message; NULL if out of memory
std::int32_t host_status_code(const llmrt_status* status);
const char* host_status_message(const llmrt_status* status);
void host_status_free(llmrt_status* status);
}  // namespace llmrt
