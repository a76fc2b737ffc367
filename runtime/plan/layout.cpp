#include "plan/layout.h"

#include <algorithm>
#include <limits>
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

Result<Layout> fixed_layout(const ParallelSpec& parallel, const TrainSpec& train, int world_size) {
  Layout layout;
  layout.pp = parallel.pp.value.value_or(1);
  layout.tp = parallel.tp.value.value_or(1);
  const int model_parallel = layout.pp * layout.tp;
  if (world_size % model_parallel != 0) {
    return input_error("{}: pp × tp = {} × {} does not divide the {} ranks", parallel.pp.pos.describe(), layout.pp,
                       layout.tp, world_size);
  }
  layout.dp = parallel.dp.value.value_or(world_size / model_parallel);
  if (layout.world_size() != world_size) {
    return input_error("{}: pp × tp × dp = {} × {} × {} = {} ranks, but {} were started (one rank per device); "
                       "run with -np {} or change [parallel]",
                       parallel.pp.pos.describe(), layout.pp, layout.tp, layout.dp, layout.world_size(), world_size,
                       layout.world_size());
  }
  layout.virtual_stages = parallel.virtual_stages;
  layout.microbatch_size = parallel.microbatch_size;
  layout.schedule = parallel.schedule;
  const std::int64_t per_step = static_cast<std::int64_t>(layout.microbatch_size) * layout.dp;
  if (train.global_batch.value % per_step != 0) {
    const std::string divisor = layout.dp == 1 ? fmt::format("microbatch_size = {}", layout.microbatch_size)
                                               : fmt::format("microbatch_size × dp = {} × {}", layout.microbatch_size,
                                                             layout.dp);
    return input_error("{}: global_batch = {} is not a multiple of {}", train.global_batch.pos.describe(),
                       train.global_batch.value, divisor);
  }
  layout.microbatches = static_cast<int>(train.global_batch.value / per_step);
  return layout;
}

Result<std::vector<int>> partition_layers(const ParallelSpec& parallel, const std::vector<double>& layer_costs,
                                          int virtual_stage_count) {
  const int layers = static_cast<int>(layer_costs.size());
  if (parallel.stage_layers.value) {
    const std::vector<int>& given = *parallel.stage_layers.value;
    const int total = std::accumulate(given.begin(), given.end(), 0);
    if (static_cast<int>(given.size()) != virtual_stage_count || total != layers) {
      return input_error("{}: {} entries summing to {}; the layout has {} virtual stages and the model {} layers",
                         parallel.stage_layers.pos.describe(), given.size(), total, virtual_stage_count, layers);
    }
    return given;
  }
  if (layers < virtual_stage_count) {
    return input_error("{}: {} virtual stages (pp × virtual_stages) but the model has only {} layers; each stage "
                       "needs at least one",
                       parallel.pp.pos.describe(), virtual_stage_count, layers);
  }
  // Exact minimum of the largest stage cost over contiguous splits into k stages (dynamic
  // programming, O(k·n²): models have at most a few hundred layers). Ties keep earlier stages smaller.
  const int k = virtual_stage_count;
  std::vector<double> prefix(static_cast<std::size_t>(layers) + 1, 0.0);
  for (int i = 0; i < layers; ++i) prefix[i + 1] = prefix[i] + layer_costs[i];
  const double infinity = std::numeric_limits<double>::infinity();
  // best[s][i]: the smallest largest-stage cost of the first i layers in s stages; cut[s][i]: the last cut.
  std::vector<std::vector<double>> best(k + 1, std::vector<double>(layers + 1, infinity));
  std::vector<std::vector<int>> cut(k + 1, std::vector<int>(layers + 1, 0));
  best[0][0] = 0;
  for (int s = 1; s <= k; ++s) {
    for (int i = s; i <= layers; ++i) {
      for (int j = s - 1; j < i; ++j) {
        const double cost = std::max(best[s - 1][j], prefix[i] - prefix[j]);
        if (cost < best[s][i] * (1 - 1e-12)) {
          best[s][i] = cost;
          cut[s][i] = j;
        }
      }
    }
  }
  std::vector<int> counts(static_cast<std::size_t>(k));
  for (int s = k, i = layers; s > 0; --s) {
    counts[static_cast<std::size_t>(s - 1)] = i - cut[s][i];
    i = cut[s][i];
  }
  return counts;
}

}  // namespace llmrt
