// For tests and debugging (`llmrt run --dump-params DIR`): each rank's final parameters as
// DIR/rank_N.bin (fp32, the flat store) and DIR/rank_N.json (name, shapes, shard, offsets), so
// a test can reassemble the model from any layout and compare it with a one-rank run.
#pragma once

#include <string>

#include "exec/param_store.h"
#include "plan/layout.h"
#include "util/status.h"

namespace llmrt {

Status dump_parameters(const ParamStore& params, const std::string& directory, int world_rank,
                       const RankCoords& coords, const Layout& layout);

}  // namespace llmrt
