// Partition: contiguous layers per virtual stage, balanced by time on each stage's devices
// (work ÷ speed), so a stage on a faster card takes proportionally more layers. The only stage
// partitioner: equal speeds are speeds of 1.
#include <limits>
#include <numeric>

#include <fmt/format.h>

#include "plan/planner_stages.h"

namespace llmrt {

namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();

// Time of layers [j, i) on virtual stage `stage`.
struct StageTimes {
  const std::vector<double>& prefix;       // prefix sums of layer work
  const std::vector<double>& rank_speed;   // [pp rank]
  int pp;
  double operator()(int stage, int j, int i) const {
    return (prefix[static_cast<std::size_t>(i)] - prefix[static_cast<std::size_t>(j)]) /
           rank_speed[static_cast<std::size_t>(stage % pp)];
  }
};

// The smallest possible largest stage time over contiguous splits of n layers into k stages
// (dynamic programming, O(k·n²): models have at most a few hundred layers).
double min_max_stage_time(const StageTimes& time, int n, int k) {
  std::vector<double> prev(static_cast<std::size_t>(n) + 1, kInfinity), next(prev.size());
  prev[0] = 0;
  for (int s = 1; s <= k; ++s) {
    std::fill(next.begin(), next.end(), kInfinity);
    for (int i = s; i <= n - (k - s); ++i) {
      for (int j = s - 1; j < i; ++j) {
        if (prev[j] == kInfinity) continue;
        next[i] = std::min(next[i], std::max(prev[j], time(s - 1, j, i)));
      }
    }
    std::swap(prev, next);
  }
  return prev[static_cast<std::size_t>(n)];
}

// Among splits whose every stage takes at most `bound`, the one with the smallest sum of
// squared stage times: the non-bottleneck stages come out as even as the bottleneck allows.
std::vector<int> most_even_split(const StageTimes& time, int n, int k, double bound) {
  std::vector<std::vector<double>> best(static_cast<std::size_t>(k) + 1,
                                        std::vector<double>(static_cast<std::size_t>(n) + 1, kInfinity));
  std::vector<std::vector<int>> cut(best.size(), std::vector<int>(best[0].size(), 0));
  best[0][0] = 0;
  for (int s = 1; s <= k; ++s) {
    for (int i = s; i <= n - (k - s); ++i) {
      for (int j = s - 1; j < i; ++j) {
        const double t = time(s - 1, j, i);
        if (best[s - 1][j] == kInfinity || t > bound) continue;
        const double cost = best[s - 1][j] + t * t;
        if (cost < best[s][i]) best[s][i] = cost, cut[s][i] = j;
      }
    }
  }
  std::vector<int> counts(static_cast<std::size_t>(k));
  for (int s = k, i = n; s > 0; --s) {
    counts[static_cast<std::size_t>(s - 1)] = i - cut[s][i];
    i = cut[s][i];
  }
  return counts;
}

}  // namespace

std::vector<int> partition_by_speed(const std::vector<double>& layer_work, const std::vector<double>& rank_speed,
                                    int pp, int virtual_stages) {
  const int n = static_cast<int>(layer_work.size());
  const int k = pp * virtual_stages;
  std::vector<double> prefix(static_cast<std::size_t>(n) + 1, 0.0);
  for (int i = 0; i < n; ++i) prefix[i + 1] = prefix[i] + layer_work[static_cast<std::size_t>(i)];
  const StageTimes time{prefix, rank_speed, pp};
  const double bound = min_max_stage_time(time, n, k);
  // Relative slack so rounding in the prefix sums cannot exclude the optimum itself.
  return most_even_split(time, n, k, bound * (1 + 1e-9) + 1e-300);
}

Result<std::vector<int>> partition_layers(const ParallelSpec& parallel, const std::vector<double>& layer_work,
                                          const std::vector<double>& rank_speed, int pp, int virtual_stages) {
  const int layers = static_cast<int>(layer_work.size());
  const int stages = pp * virtual_stages;
  if (parallel.stage_layers.value) {
    const std::vector<int>& given = *parallel.stage_layers.value;
    const int total = std::accumulate(given.begin(), given.end(), 0);
    if (static_cast<int>(given.size()) != stages || total != layers) {
      return input_error("{}: {} entries summing to {}; the layout has {} virtual stages and the model {} layers",
                         key_where(parallel.stage_layers.pos, "parallel.stage_layers"), given.size(), total, stages,
                         layers);
    }
    return given;
  }
  if (layers < stages) {
    return input_error("{}: {} virtual stages (pp × virtual_stages) but the model has only {} layers; each stage "
                       "needs at least one",
                       key_where(parallel.pp.pos, "parallel.pp"), stages, layers);
  }
  if (!rank_speed.empty() && static_cast<int>(rank_speed.size()) != pp) {
    return runtime_error("partition: {} rank speeds for pp = {}", rank_speed.size(), pp);
  }
  const std::vector<double> speed = rank_speed.empty() ? std::vector<double>(static_cast<std::size_t>(pp), 1.0)
                                                       : rank_speed;
  return partition_by_speed(layer_work, speed, pp, virtual_stages);
}

}  // namespace llmrt
