// This process's memory, as the kernel counts it: what the planner's memory model is held against.
#pragma once

#include <cstdint>

namespace llmrt {

// Peak resident set size (VmHWM in /proc/self/status), in bytes; 0 where unavailable.
std::int64_t peak_resident_bytes();

}  // namespace llmrt
