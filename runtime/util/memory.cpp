#include "util/memory.h"

#include <fstream>
#include <string>

namespace llmrt {

std::int64_t peak_resident_bytes() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) * 1024;  // "VmHWM:   12345 kB"
  }
  return 0;
}

}  // namespace llmrt
