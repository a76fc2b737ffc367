#include "config/spec.h"

#include <fmt/format.h>

namespace llmrt {

std::string SourcePos::describe() const {
  std::string where = file.empty() ? std::string("<config>") : file;
  if (line > 0) where += fmt::format(":{}:{}", line, column);
  if (!key_path.empty()) where += fmt::format(": {}", key_path);
  return where;
}

std::string vocab_padding_note(const ModelSpec& model) {
  if (model.padded_vocab() == model.vocab_size.value) return "";
  return fmt::format(", vocab {} padded to {}", model.vocab_size.value, model.padded_vocab());
}

std::string_view precision_name(Precision precision) {
  switch (precision) {
    case Precision::kFp32: return "fp32";
    case Precision::kBf16: return "bf16";
    case Precision::kFp16: return "fp16";
    case Precision::kAuto: return "auto";
  }
  return "fp32";
}

std::string_view recompute_name(Recompute recompute) {
  switch (recompute) {
    case Recompute::kNone: return "none";
    case Recompute::kSelective: return "selective";
    case Recompute::kFull: return "full";
    case Recompute::kAuto: return "auto";
  }
  return "none";
}

}  // namespace llmrt
