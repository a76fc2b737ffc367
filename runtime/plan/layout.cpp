#include "plan/layout.h"

#include <algorithm>
#include <numeric>

#include <fmt/format.h>

namespace llmrt {

std::string RankCoords::label() const { return fmt::format("pp {} · tp {} · dp {}", pp, tp, dp); }

RankCoords Layout::coords_of(int rank) const {
  return RankCoords{rank / (tp * dp), rank % tp, (rank / tp) % dp};
}

int Layout::rank_of(const RankCoords& coords) const { return coords.tp + tp * (coords.dp + dp * coords.pp); }

int Layout::first_layer(int virtual_stage) const {
  return std::accumulate(stage_layers.begin(), stage_layers.begin() + virtual_stage, 0);
}

std::string key_where(const SourcePos& pos, const char* key_path) {
  if (pos.file.empty() && pos.line == 0) return pos.key_path.empty() ? key_path : pos.key_path;
  SourcePos named = pos;
  if (named.key_path.empty()) named.key_path = key_path;
  return named.describe();
}

Result<Layout> fixed_layout(const ParallelSpec& parallel, const TrainSpec& train, int world_size) {
  Layout layout;
  layout.pp = parallel.pp.value.value_or(1);
  layout.tp = parallel.tp.value.value_or(1);
  const int model_parallel = layout.pp * layout.tp;
  if (world_size % model_parallel != 0) {
    // Name the degree that is at fault: the one that alone does not divide the ranks, else both.
    const bool tp_alone = parallel.tp.value && world_size % layout.tp != 0;
    const bool pp_alone = parallel.pp.value && world_size % layout.pp != 0;
    const std::string where = tp_alone && !pp_alone   ? key_where(parallel.tp.pos, "parallel.tp")
                              : pp_alone && !tp_alone ? key_where(parallel.pp.pos, "parallel.pp")
                                                      : key_where(parallel.pp.pos, "parallel.pp") + " and " +
                                                            key_where(parallel.tp.pos, "parallel.tp");
    return input_error("{}: pp × tp = {} × {} does not divide the {} ranks", where, layout.pp, layout.tp, world_size);
  }
  layout.dp = parallel.dp.value.value_or(world_size / model_parallel);
  if (layout.world_size() != world_size) {
    return input_error("{}: pp × tp × dp = {} × {} × {} = {} ranks, but {} were started (one rank per device); "
                       "run with -np {} or change [parallel]",
                       key_where(parallel.dp.pos, "parallel.dp"), layout.pp, layout.tp, layout.dp, layout.world_size(), world_size,
                       layout.world_size());
  }
  layout.virtual_stages = parallel.virtual_stages;
  layout.microbatch_size = parallel.microbatch_size;
  layout.schedule = parallel.schedule;
  layout.recompute = train.recompute.value == Recompute::kAuto ? Recompute::kNone : train.recompute.value;
  layout.zero = parallel.zero.value.value_or(0);
  LLMRT_ASSIGN_OR_RETURN(layout.microbatches, microbatches_per_replica(train, layout.microbatch_size, layout.dp));
  return layout;
}

Result<int> microbatches_per_replica(const TrainSpec& train, int microbatch_size, int dp) {
  const std::int64_t per_step = static_cast<std::int64_t>(microbatch_size) * dp;
  const std::int64_t global_batch = train.global_batch.value;
  if (per_step >= 1 && global_batch >= per_step && global_batch % per_step == 0) {
    return static_cast<int>(global_batch / per_step);
  }
  const std::string where = key_where(train.global_batch.pos, "train.global_batch");
  if (dp == 1) {
    return input_error("{}: global_batch = {} is not a multiple of microbatch_size = {}", where, global_batch,
                       microbatch_size);
  }
  return input_error("{}: global_batch = {} is not a multiple of microbatch_size × dp = {} × {}", where,
                     global_batch, microbatch_size, dp);
}

}  // namespace llmrt
