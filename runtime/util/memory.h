// This process's and this host's memory, as the kernel counts them: what the planner's memory model is held against.
#pragma once

#include <cstdint>

namespace llmrt {

// Peak resident set size (VmHWM in /proc/self/status), in bytes; 0 where unavailable.
std::int64_t peak_resident_bytes();

// This host's RAM (MemTotal in /proc/meminfo), in bytes; 0 where unavailable. What CPU ranks'
// predicted memory is held against before step 1.
std::int64_t host_memory_bytes();

}  // namespace llmrt
