// What the host holds a layer to before it owns the layer's parameters (issue 13, "check
// catches a plugin's mistakes"): every parameter spec a plugin declares is checked where it is
// read, and parameters tied under one name must agree in shape. Both run inside create_layers,
// so `check`, the planner and `run` refuse the same mistakes with the same message (exit 2).
#pragma once

#include <string_view>
#include <vector>

#include <llmrt/plugin.h>

#include "config/spec.h"
#include "util/status.h"

namespace llmrt {

struct LayerSlot;

// A layer's parameter specs as its plugin gave them: a name, unique within the layer; rank 0 to
// LLMRT_MAX_RANK; every dimension positive; shard_dim LLMRT_NO_SHARD or a dimension of the
// tensor whose extent splits into tp_size equal parts. `owner` names the layer in the error
// ("job.toml:14:1: model.layer[1]: layer hostile.scale[1] (component 'hostile.scale', plugin
// /p/x.so)"). Input errors: the plugin's author, or the user's tp, must change something.
Status check_param_specs(const std::vector<llmrt_param_spec>& specs, int tp_size, std::string_view owner);

// Parameters tied under one name (in these layers) have one global shape; an error prints both
// shapes and names both layers with their place in the config.
Status check_param_ties(const ModelSpec& model, const std::vector<LayerSlot>& slots);

// "job.toml:14:1: model.layer[1]: layer hostile.scale[1] (component 'hostile.scale', plugin /p/x.so)"
std::string describe_layer(const ModelSpec& model, const LayerSlot& slot);

}  // namespace llmrt
