#include "util/memory.h"

#include <cstdlib>
#include <fstream>
#include <string>

namespace llmrt {
namespace {

// The kB figure of the line that starts with `field` ("VmHWM:   12345 kB"), in bytes; 0 when absent.
std::int64_t kilobyte_field(const char* path, const std::string& field) {
  std::ifstream file(path);
  for (std::string line; std::getline(file, line);) {
    if (line.rfind(field, 0) == 0) return std::strtoll(line.c_str() + field.size(), nullptr, 10) * 1024;
  }
  return 0;
}

}  // namespace

std::int64_t peak_resident_bytes() { return kilobyte_field("/proc/self/status", "VmHWM:"); }

std::int64_t host_memory_bytes() { return kilobyte_field("/proc/meminfo", "MemTotal:"); }

}  // namespace llmrt
