// For tests and debugging (`llmrt run --dump-params DIR`): each rank's final parameters as
// DIR/rank_N.bin (fp32, the flat store) and DIR/rank_N.json (name, shapes, shard, offsets), so
// a test can reassemble the model from any layout and compare it with a one-rank run. Under
// ZeRO-1 with a sharded master the fp32 values are gathered from the data-parallel ranks, so
// every rank of a data-parallel group must call it.
#pragma once

#include <string>

#include "exec/param_store.h"
#include "exec/zero_shards.h"
#include "plan/layout.h"
#include "util/status.h"

namespace llmrt {

// zero: the trainer's ZeRO-1 shards, or nullptr.
Status dump_parameters(const ParamStore& params, ZeroShards* zero, const std::string& directory, int world_rank,
                       const RankCoords& coords, const Layout& layout);

}  // namespace llmrt
