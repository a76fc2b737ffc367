// The parallel layout of a run: pipeline (pp), tensor (tp) and data (dp) degrees, virtual
// stages, microbatches, and where each rank sits. It comes from [parallel] (fixed_layout) or
// from the planner; both produce this struct. Also the one owner of the microbatch arithmetic
// and of the stage partition that every caller (planner, run, check, tests) shares.
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
  // Memory savers, resolved (never kAuto): the recompute mode of layers that set none of their
  // own (model.layer[].recompute), and the ZeRO stage (0 or 1).
  Recompute recompute = Recompute::kNone;
  int zero = 0;

  int world_size() const { return pp * tp * dp; }
  // Ranks are numbered tp fastest, then dp, then pp: a tp group is consecutive ranks (one
  // node's NVLink island), pipeline stages are the slowest-varying (they cross the slow links).
  RankCoords coords_of(int rank) const;
  int rank_of(const RankCoords& coords) const;
  int virtual_stage(int pp_rank, int chunk) const { return chunk * pp + pp_rank; }
  // The first model layer of a virtual stage.
  int first_layer(int virtual_stage) const;
};

// Degrees from [parallel]: fixed ones as given, "auto" ones as data parallel (pp = tp = 1),
// an "auto" recompute as none and an "auto" zero as 0;
// checks they fit the world and the global batch. Callers that want the planner's choice for
// "auto" degrees ask the planner instead.
Result<Layout> fixed_layout(const ParallelSpec& parallel, const TrainSpec& train, int world_size);

// Microbatches per data-parallel replica per optimizer step: global_batch ÷ (dp × microbatch_size).
// An input error naming train.global_batch when that is not a whole number ≥ 1.
Result<int> microbatches_per_replica(const TrainSpec& train, int microbatch_size, int dp);

// Layers per virtual stage (virtual stage s runs on pipeline rank s % pp): [parallel].stage_layers
// when given (checked against the layout and the model), else contiguous runs that minimise the
// largest stage time work ÷ speed and, among those, make the stage times most even; every stage
// gets ≥ 1 layer. `rank_speed` [pp rank] in any unit proportional to FLOP/s; empty means equal
// speeds (every rank 1). The planner passes the placed devices' speeds, so a run that asks the
// planner (plan_stage_layers in planner.h) gets the split `plan` predicted.
Result<std::vector<int>> partition_layers(const ParallelSpec& parallel, const std::vector<double>& layer_work,
                                          const std::vector<double>& rank_speed, int pp, int virtual_stages);

// "parallel.tp" or, when the config gave a position, "file:line:col: parallel.tp".
std::string key_where(const SourcePos& pos, const char* key_path);

}  // namespace llmrt
