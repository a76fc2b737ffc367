#include "config/spec.h"

#include <fmt/format.h>

namespace llmrt {

std::string SourcePos::describe() const {
  std::string where = file.empty() ? std::string("<config>") : file;
  if (line > 0) where += fmt::format(":{}:{}", line, column);
  if (!key_path.empty()) where += fmt::format(": {}", key_path);
  return where;
}

}  // namespace llmrt
