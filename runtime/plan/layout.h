// The parallel layout of a run: pipeline (pp), tensor (tp) and data (dp) degrees, virtual
// stages, microbatches, and where each rank sits. Until the planner lands it comes from
// [parallel] (fixed_layout); afterwards from the plan: both produce this struct.
#pragma once

#include <string>
#include <vector>

#include "config/spec.h"
#include "util/status.h"

namespace llmrt {

struct RankCoords {
  int pp = 0, tp = 0, dp = 0;
  std::string label() const;  // "pp 1 · tp 0 · dp 0"
};

struct Layout {
  int pp = 1, tp = 1, dp = 1;
  int virtual_stages = 1;
  int microbatch_size = 1;
  int microbatches = 1;   // per data-parallel replica per optimizer step
  std::string schedule = "1f1b";
  // Model layers per virtual stage, in virtual-stage order (c·pp + r); sums to the model's layers.
  std::vector<int> stage_layers;

  int world_size() const { return pp * tp * dp; }
  // Ranks are numbered tp fastest, then dp, then pp: a tp group is consecutive ranks (one
  // node's NVLink island), pipeline stages are the slowest-varying (they cross the slow links).
  RankCoords coords_of(int rank) const;
  int rank_of(const RankCoords& coords) const;
  int virtual_stage(int pp_rank, int chunk) const { return chunk * pp + pp_rank; }
  // The first model layer of a virtual stage.
  int first_layer(int virtual_stage) const;
};

// Degrees from [parallel]: fixed ones as given, "auto" ones as data parallel (pp = tp = 1)
// until the planner chooses; checks they fit the world and the global batch.
Result<Layout> fixed_layout(const ParallelSpec& parallel, const TrainSpec& train, int world_size);

// Layers per virtual stage: [parallel].stage_layers when given, else contiguous runs of layers
// with costs as even as possible (the largest stage as small as it can be).
Result<std::vector<int>> partition_layers(const ParallelSpec& parallel, const std::vector<double>& layer_costs,
                                          int virtual_stage_count);

}  // namespace llmrt
