#include "exec/vocab_rows.h"

#include <algorithm>
#include <cstring>
#include <optional>

#include <fmt/format.h>

#include "exec/param_store.h"

namespace llmrt {
namespace {

std::size_t row_elements(const std::vector<std::int64_t>& shape) {
  std::size_t count = 1;
  for (std::size_t d = 1; d < shape.size(); ++d) count *= static_cast<std::size_t>(shape[d]);
  return count;
}

// The layer's resolved int key `name`, or nullopt.
std::optional<std::int64_t> config_int(const LayerSlot& slot, const char* name) {
  const llmrt_config* config = slot.config.get();
  for (std::size_t i = 0; config != nullptr && i < config->count; ++i) {
    const llmrt_config_value& value = config->values[i];
    if (value.name != nullptr && std::strcmp(value.name, name) == 0 && value.type == LLMRT_KEY_INT) {
      return value.integer;
    }
  }
  return std::nullopt;
}

}  // namespace

Result<std::int64_t> vocab_rows_of(const LayerSlot& slot, const llmrt_param_spec& spec) {
  if ((param_spec_flags(spec) & LLMRT_PARAM_VOCAB_ROWS) == 0) return std::int64_t{0};
  const std::optional<std::int64_t> vocab = config_int(slot, "vocab_size");
  if (!vocab) {
    return runtime_error("{}: parameter {} is flagged LLMRT_PARAM_VOCAB_ROWS but its layer declares no int key "
                         "vocab_size (the rows below it are the real ones)", slot.label, spec.name);
  }
  if (spec.rank < 1 || *vocab < 1 || *vocab > spec.shape[0]) {
    return runtime_error("{}: parameter {} is flagged LLMRT_PARAM_VOCAB_ROWS with vocab_size = {}, which is not in "
                         "[1, {}] (its dimension 0)", slot.label, spec.name, *vocab, spec.rank < 1 ? 0 : spec.shape[0]);
  }
  return *vocab;
}

void zero_padded_rows(std::vector<float>& global, const std::vector<std::int64_t>& shape, std::int64_t vocab_rows) {
  if (vocab_rows <= 0 || shape.empty()) return;
  const std::size_t first = static_cast<std::size_t>(vocab_rows) * row_elements(shape);
  std::fill(global.begin() + static_cast<std::ptrdiff_t>(std::min(first, global.size())), global.end(), 0.0f);
}

bool repaddable(const std::vector<std::int64_t>& found, const ParamEntry& entry) {
  const std::vector<std::int64_t>& needed = entry.global_shape;
  if (entry.vocab_rows <= 0 || found.size() != needed.size() || found.empty() || found[0] < entry.vocab_rows) {
    return false;
  }
  return std::equal(found.begin() + 1, found.end(), needed.begin() + 1);
}

Status fit_vocab_rows(GlobalTensor& tensor, const ParamEntry& entry, std::string_view source, std::string_view what) {
  if (tensor.shape == entry.global_shape) return Status::success();
  if (!repaddable(tensor.shape, entry)) {
    return input_error("{}: {} is {}, this model's is {}", source, what, shape_text(tensor.shape),
                       shape_text(entry.global_shape));
  }
  const std::size_t row = row_elements(entry.global_shape);
  const std::size_t keep = static_cast<std::size_t>(entry.global_shape[0]) * row;
  if (tensor.values.size() > keep) {
    auto nonzero = std::find_if(tensor.values.begin() + static_cast<std::ptrdiff_t>(keep), tensor.values.end(),
                                [](float value) { return value != 0.0f; });
    if (nonzero != tensor.values.end()) {
      const std::size_t at = static_cast<std::size_t>(nonzero - tensor.values.begin()) / row;
      return input_error("{}: {} has {} rows and row {} is not zero: rows past this model's {} (vocab_size {} padded "
                         "by model.vocab_pad_multiple) must be padding to be dropped",
                         source, what, tensor.shape[0], at, entry.global_shape[0], entry.vocab_rows);
    }
  }
  tensor.values.resize(keep, 0.0f);
  tensor.shape = entry.global_shape;
  return Status::success();
}

}  // namespace llmrt
