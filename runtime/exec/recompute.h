// Activation recompute ([train].recompute, model.layer[].recompute; docs/executor.md): which
// mode each layer runs in, what `check` and `run` say about it, and the one-line summary of the
// stages' modes in the run header. The executor's part is in exec/stage_recompute.cpp.
#pragma once

#include <string>
#include <vector>

#include "config/spec.h"
#include "plan/layout.h"
#include "plugin/registry.h"
#include "util/status.h"

namespace llmrt {

// Whether `component` (a layer) declares it can run in `mode` (kNone: always).
bool declares_recompute(const Component& component, Recompute mode);

// The mode a layer of [[model.layer]] entry `layer` runs in when the layers without their own
// mode run `train_mode` (kAuto, before the planner chose, reads as kNone): its model.layer[].recompute, else train_mode.
// A layer that does not declare the mode keeps its state (kNone) when the mode is train-wide; an
// input error naming the layer and its key when its own recompute asked for it.
Result<Recompute> layer_recompute(const LayerSpec& layer, const Component& component, Recompute train_mode);

// The note `check` and `run` print when the train-wide mode leaves some layers keeping their
// state: 'recompute "full" (train.recompute): model.layer[1] my.layer keeps its activations:
// it declares no full recompute (LLMRT_LAYER_RECOMPUTE_FULL)'; "" when there is none. Errors as layer_recompute (an input error for a layer
// whose own recompute asks what it cannot).
Result<std::string> recompute_note(const ModelSpec& model, const Registry& registry, Recompute train_mode);

// Each virtual stage's modes, for the run header: "recompute: stage 0 full, stage 1 full ×3 +
// none ×1" (a stage all in one mode is named by it). Every rank can compute it.
Result<std::string> recompute_summary(const ModelSpec& model, const Registry& registry, const Layout& layout);

}  // namespace llmrt
