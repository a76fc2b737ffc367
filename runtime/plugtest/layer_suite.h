// The checks `llmrt plugins test` runs on a layer (docs/plugins.md, "Testing a plugin"): shapes
// against forward, finite values, determinism, the central-difference gradient check, `=` of
// the input gradient and `+=` of the parameter gradients, backward_input then backward_weight,
// the recompute contracts the layer declares, and tp = N against tp = 1.
#pragma once

#include <cstdint>
#include <vector>

#include <llmrt/plugin.h>

#include "plugin/component_config.h"
#include "plugtest/check_report.h"
#include "plugtest/layer_rig.h"
#include "comm/world.h"
#include "util/status.h"

namespace llmrt::plugtest {

struct LayerTestSetup {
  const Component* component = nullptr;
  const ResolvedConfig* config = nullptr;
  std::int64_t batch = 2, seq = 5;
  std::int64_t width = 24;  // C of an activation input: d_model
  std::int64_t vocab = 37;  // token ids and targets are below it
  unsigned seed = 1234;
  std::int32_t dtype = LLMRT_DTYPE_F32;  // --dtype bf16 adds the bf16-against-f32 check
  int tp_size = 1, tp_rank = 0;  // tp_size > 1: the tp check runs on the ranks of tp_comm
  llmrt_comm* tp_comm = nullptr;
  const World* world = nullptr;  // for the tp check: its ranks agree on one verdict
};

// What one run of forward and both backward passes (from zeroed gradients) produced.
struct Baseline {
  std::vector<HostTensor> out;
  std::vector<std::byte> saved;
  Gradients grads;
};

// Every check, each one line in `report`. An error: the layer could not be set up or a call
// failed outright (named), which is a failure of the test, not a verdict.
Status run_layer_checks(const LayerTestSetup& setup, CheckReport& report);

// The elements of a tensor without the sentinel tail of an output buffer.
std::span<const float> body(const HostTensor& tensor);

// layer_gradcheck.cpp: central differences of L = sum r_i out_i against the input gradient and
// each parameter's gradient in `base`.
Status check_gradients(LayerRig& rig, Problem& problem, const Baseline& base, unsigned seed, CheckReport& report);

// layer_tp_check.cpp: the layer at setup.tp_size on this rank's slice against `base` (tp = 1);
// collective over the tp group; every rank reports the same verdict.
Status check_tensor_parallel(const LayerTestSetup& setup, const Problem& problem, const Baseline& base,
                             CheckReport& report);

// layer_dtype_check.cpp: the layer at compute dtype bf16 against itself at f32 on the same
// bf16-rounded inputs and parameters; an input error when the layer does not run bf16 on the CPU.
Status check_bf16(const LayerTestSetup& setup, const Problem& problem, CheckReport& report);
Status check_bf16_supported(const LayerTestSetup& setup);

// A llmrt_call_ctx on the CPU for tp_rank of tp_size on `comm` (NULL: a group of one).
llmrt_call_ctx cpu_call_ctx(int tp_rank, int tp_size, llmrt_comm* comm);
llmrt_layer_context layer_context(int tp_rank, int tp_size, std::int32_t recompute);
// Forward then every backward pass, from zeroed gradients.
Result<Baseline> run_once(LayerRig& rig, Problem& problem);
// Both backward passes from zeroed gradients after the forward in `base`.
Status run_backward(LayerRig& rig, Problem& problem, Baseline& base);

}  // namespace llmrt::plugtest
