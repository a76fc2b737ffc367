// Vocabulary padding in the parameter store (model.vocab_pad_multiple, docs/config.md): a
// parameter flagged LLMRT_PARAM_VOCAB_ROWS has rows [vocab_size, Vp) of padding, zero from the
// init on. A tensor of another padding (a checkpoint or model file written with another
// multiple, GPT-2 weights of V rows) is re-padded to this model's rows: zero rows dropped or
// added, so the same numbers train on either side.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include <llmrt/plugin.h>

#include "ckpt/model_tensors.h"
#include "exec/model_layers.h"
#include "util/status.h"

namespace llmrt {

struct ParamEntry;

// The real rows of `spec` when its layer flags it LLMRT_PARAM_VOCAB_ROWS: the layer's
// vocab_size key; 0 when not flagged. An error (the layer's bug) when the layer declares no int
// vocab_size, or one outside [1, shape[0]].
Result<std::int64_t> vocab_rows_of(const LayerSlot& slot, const llmrt_param_spec& spec);

// global: row-major `shape`; rows [vocab_rows, shape[0]) set to zero (no-op for vocab_rows 0).
void zero_padded_rows(std::vector<float>& global, const std::vector<std::int64_t>& shape, std::int64_t vocab_rows);

// True when a tensor of shape `found` can stand for `entry` once re-padded: the entry has
// padded rows, `found` has its shape but for dimension 0, and it covers the real rows.
bool repaddable(const std::vector<std::int64_t>& found, const ParamEntry& entry);

// `tensor` re-padded to entry.global_shape (a no-op when the shapes agree): rows past the real
// ones are dropped, or zeros appended. A dropped row that is not zero is an input error naming
// `source` and `what` (the tensor, or its optimizer state): it is not padding.
Status fit_vocab_rows(GlobalTensor& tensor, const ParamEntry& entry, std::string_view source, std::string_view what);

}  // namespace llmrt
