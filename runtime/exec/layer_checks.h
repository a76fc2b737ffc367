// Debug checks after every layer call of a stage (docs/plugins.md "When your layer is wrong"):
//  - detect_anomaly (train.detect_anomaly): the tensors the call wrote — forward's output,
//    backward_input's input gradient, the parameter gradients of backward_input/backward_weight —
//    hold no NaN or Inf; the first call that makes one stops the run (exit 1) naming the layer,
//    the pass, microbatch, step and rank.
//  - guard_params (train.guard_params): the parameter store lays every parameter slice out with
//    canary gaps (ParamStore::build's guard_gap: NaN in the weights, so that a read past a slice
//    poisons the output and the anomaly check names the reader; 0 in the gradients, so that the
//    norm, reductions and optimizer see nothing), and after every call the gaps are checked:
//    a write outside the layer's own slices names the layer and the parameter it overran.
//    guard_params turns detect_anomaly on.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

#include <llmrt/plugin.h>

#include "exec/model_layers.h"
#include "exec/param_store.h"
#include "util/status.h"

namespace llmrt {

// Elements in each canary gap of a guarded parameter store: before the first slice, between
// slices, after the last.
inline constexpr std::size_t kParamGuardGap = 16;

struct LayerCallChecks {
  bool detect_anomaly = false;
  bool guard_params = false;

  bool active() const { return detect_anomaly || guard_params; }
  // After `layer` ran `pass` ("forward", "backward_input", "backward_weight") for `microbatch`:
  // `outputs`: what it wrote (forward's output, backward_input's input gradient; f32/bf16/f16),
  // `grad_params`: the parameter gradients it added to (in its param_specs order), on `device`.
  Status after_call(const LayerSlot& layer, std::string_view pass, int microbatch,
                    std::span<const llmrt_tensor> outputs, std::span<const llmrt_tensor> grad_params,
                    const ParamStore& params, ComputeDevice& device) const;
};

// The index of the first NaN/Inf among `count` values of `dtype` (f32, bf16, f16) at `data` in
// host memory, or count when all are finite.
std::size_t first_non_finite(const void* data, std::int32_t dtype, std::size_t count);

}  // namespace llmrt
